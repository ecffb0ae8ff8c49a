// The demo page in a real browser (Debian's chromium driven by playwright-core), two players
// in two browser contexts (a desktop and a phone) against the real binary, the fake Torii of
// the Blitz world and a real devnet: one signs in with a devnet account's real signature, the
// other with a development token. World chat, a direct message with its unread badge and read
// receipt, a guild note seen by the guild mate on the map, a unit move seen live, an
// announcement toast, and a guild membership revoked live. Screenshots of each step, at both
// sizes, go to test-artifacts/ (or ARTIFACTS_DIR).
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";

import { Devnet, type DevnetAccount } from "../devnet.ts";
import { TestServer } from "../server.ts";
import { FakeTorii, blitzWorldConfig } from "./world.ts";

const chromiumPath = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const artifacts = process.env.ARTIFACTS_DIR ?? resolve(__dirname, "../../test-artifacts");
const GUILD = "0x9001";

let devnet: Devnet;
let torii: FakeTorii;
let server: TestServer;
let browser: Browser;
let alice: DevnetAccount;
let bob: DevnetAccount;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is needed (scripts/services.sh installs chromium)`);
  rmSync(artifacts, { recursive: true, force: true }); // Only this run's screenshots.
  mkdirSync(artifacts, { recursive: true });
  devnet = await Devnet.start();
  [alice, bob] = (await devnet.accounts()) as [DevnetAccount, DevnetAccount];
  torii = await FakeTorii.start();
  server = await TestServer.start({
    config:
      blitzWorldConfig() +
      `[auth.starknet]\nrpc_url = "${devnet.url}"\ndomain_name = "blitz-demo"\nchain_id = "${await devnet.chainId()}"\n`,
    env: { ...torii.env, TORII_REALTIME__SERVER__DEMO: "true" },
  });
  await until("the server follows the world", async () => (await fetch(`${server.httpUrl}/readyz`)).status === 200);
  // On chain: two named players in one guild, each with a structure, and alice's explorer.
  await torii.send({ op: "player", address: alice.address, name: "alice" });
  await torii.send({ op: "player", address: bob.address, name: "bob" });
  await torii.send({ op: "join_guild", address: alice.address, guild: GUILD });
  await torii.send({ op: "join_guild", address: bob.address, guild: GUILD });
  await torii.send({ op: "structure", id: 7, owner: alice.address, x: 100, y: 100 });
  await torii.send({ op: "structure", id: 8, owner: bob.address, x: 98, y: 103 });
  await torii.send({ op: "explorer", id: 1, structure: 7, x: 101, y: 100 });
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  server?.stop();
  torii?.stop();
  devnet?.stop();
});

async function until(what: string, f: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await f()) return;
    } catch {
      // Not yet.
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: false });
}

/** Watches a page for script errors, which fail the test at the end. */
function errorsOf(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  return errors;
}

test("two players use the demo: chat, a direct message, a guild note, a unit move, a revocation", async () => {
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const a = await desktop.newPage();
  const b = await phone.newPage();
  const aErrors = errorsOf(a);
  const bErrors = errorsOf(b);
  try {
    await walkThrough(a, b);
  } catch (e) {
    // What each player saw when it failed.
    await shot(a, "failure-desktop");
    await shot(b, "failure-phone");
    throw e;
  }
  expect(aErrors, "script errors on the desktop").toEqual([]);
  expect(bErrors, "script errors on the phone").toEqual([]);
  await desktop.close();
  await phone.close();
}, 180_000);

async function walkThrough(a: Page, b: Page): Promise<void> {

  // Alice signs in with her devnet account: the page signs the challenge with her key.
  await a.goto(`${server.httpUrl}/demo?x=100&y=100`);
  await a.getByTestId("signin-address").fill(alice.address);
  await a.getByTestId("signin-key").fill(alice.private_key);
  await shot(a, "desktop-1-sign-in");
  await a.getByTestId("signin-submit").click();
  await a.getByText("alice", { exact: true }).waitFor();
  // Bob opens it with a development token.
  await b.goto(`${server.httpUrl}/demo?x=100&y=100#token=${server.token(bob.address)}`);
  await b.getByText("bob", { exact: true }).waitFor();
  await a.getByTestId("presence").getByText("2 online").waitFor();

  // World chat.
  await a.getByTestId("composer").fill("gm from alice");
  await a.getByTestId("send").click();
  await b.getByTestId("chat-world").getByText("gm from alice").waitFor();
  // Beside it, her name on chain rather than her address.
  await b.getByTestId("message").filter({ hasText: "gm from alice" }).getByText("alice", { exact: true }).waitFor();
  await shot(a, "desktop-2-world-chat");
  await shot(b, "phone-2-world-chat");

  // A direct message: an unread badge on bob's DM tab, then the thread, then the receipt.
  await a.getByTestId("tab-dm").click();
  await a.getByTestId("dm-to").fill(bob.address);
  await a.getByTestId("dm-open").click();
  await a.getByTestId("composer").fill("want to raid at dawn?");
  await a.getByTestId("send").click();
  await b.getByTestId("tab-dm").getByTestId("badge").getByText("1").waitFor();
  await b.getByTestId("toast").filter({ hasText: "want to raid at dawn?" }).getByText("alice").waitFor();
  await shot(b, "phone-3-dm-unread");
  await b.getByTestId("tab-dm").click();
  await b.getByTestId("thread").click();
  await b.getByTestId("message").getByText("want to raid at dawn?").waitFor();
  await expect(b.getByTestId("tab-dm").getByTestId("badge").count()).resolves.toBe(0);
  await a.getByTestId("seen").waitFor();
  await shot(a, "desktop-3-dm-seen");

  // A guild note near alice's structure, seen by bob on his map.
  await a.getByTestId("tile-102-100").click();
  await a.getByTestId("note-title").fill("Rally here");
  await a.getByTestId("note-body").fill("bring the crossbows");
  await a.getByTestId("note-visibility").selectOption("group");
  await a.getByTestId("note-pin").click();
  await a.getByTestId("note-pin-102-100").waitFor();
  await b.getByTestId("note-pin-102-100").waitFor();
  await b.getByTestId("tab-notes").click();
  await b.getByTestId("note").getByText("Rally here").waitFor();
  await shot(b, "phone-4-guild-note");

  // Alice's explorer moves on chain: both maps show it where it went.
  await torii.send({ op: "explorer", id: 1, structure: 7, x: 103, y: 101 });
  await a.locator('[data-testid="unit-103-101"][data-mine="true"]').waitFor();
  await b.locator('[data-testid="unit-103-101"][data-mine="false"]').waitFor();
  await shot(a, "desktop-4-unit-moved");

  // A new player on chain: the announcement is a toast for both.
  await torii.send({ op: "player", address: "0x3", name: "carol" });
  await a.getByTestId("toast").getByText("carol joined the world").waitFor();
  await b.getByTestId("toast").getByText("carol joined the world").waitFor();

  // Bob leaves the guild on chain: his guild chat closes and the guild's note leaves his map.
  await b.getByTestId("tab-guild").click();
  await b.getByTestId(`chat-guild:${GUILD}`).waitFor();
  await torii.send({ op: "leave_guild", address: bob.address });
  await b.locator('[data-testid="toast"][data-kind="revoked"]').first().waitFor();
  await until("the note leaves bob's map", async () => (await b.getByTestId("note-pin-102-100").count()) === 0);
  await b.getByTestId("no-guild").waitFor();
  await shot(b, "phone-5-revoked");
  await a.getByTestId("note-pin-102-100").waitFor();
  await shot(a, "desktop-5-final");
}
