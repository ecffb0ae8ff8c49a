// torii-realtime's TypeScript client: see README.md.
export * from "./protocol.ts";
export * from "./client.ts";
export * from "./signin.ts";
