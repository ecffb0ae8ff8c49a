import { defineConfig } from "vitest/config";

// Tests start real servers: one file at a time, with room for restarts.
export default defineConfig({
  test: { testTimeout: 30_000, fileParallelism: false },
});
