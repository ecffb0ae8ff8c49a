// The demo: sign in (a devnet account's key in development, an injected wallet, or a
// development token in the URL fragment), then the social layer of the world over one socket.
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { Signer } from "starknet";

import { RealtimeClient, type SignInAccount, type SignInTypedData, walletTokenSource } from "../src/index.ts";
import { RealtimeProvider } from "../src/react.ts";
import { App } from "./app.tsx";

const origin = window.location.origin;
const wsUrl = `${origin.replace(/^http/, "ws")}/v1/ws`;

/** An account signing with a private key held in the page: development only. */
function keyAccount(address: string, privateKey: string): SignInAccount {
  const signer = new Signer(privateKey);
  return {
    address,
    signMessage: (typedData: SignInTypedData) => signer.signMessage(typedData as never, address) as never,
  };
}

interface InjectedWallet {
  enable?: () => Promise<unknown>;
  account?: SignInAccount;
}

function SignIn(props: { onClient: (c: RealtimeClient) => void }) {
  const [address, setAddress] = useState("");
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const wallet = (window as unknown as { starknet?: InjectedWallet }).starknet;

  async function start(account: SignInAccount) {
    setBusy(true);
    setError(null);
    const token = walletTokenSource(origin, account);
    try {
      await token(); // Signs in now, so a refusal shows here rather than as a dead socket.
      props.onClient(new RealtimeClient({ url: wsUrl, token }));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <h1>torii-realtime demo</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void start(keyAccount(address.trim(), key.trim()));
        }}
      >
        <h2>Devnet account</h2>
        <p className="hint">Development only: the key stays in this page and signs the sign-in message.</p>
        <label>
          Address
          <input data-testid="signin-address" value={address} onChange={(e) => setAddress(e.target.value)} placeholder="0x…" />
        </label>
        <label>
          Private key
          <input data-testid="signin-key" type="password" value={key} onChange={(e) => setKey(e.target.value)} placeholder="0x…" />
        </label>
        <button data-testid="signin-submit" disabled={busy || !address || !key}>
          Sign in
        </button>
      </form>
      {wallet?.enable && (
        <button
          className="secondary"
          disabled={busy}
          onClick={async () => {
            await wallet.enable?.();
            if (wallet.account) void start(wallet.account);
          }}
        >
          Sign in with your wallet
        </button>
      )}
      {error && (
        <p className="error" data-testid="signin-error">
          {error}
        </p>
      )}
    </main>
  );
}

function Root() {
  const [client, setClient] = useState<RealtimeClient | null>(() => {
    // `#token=…`: a development token (`torii-realtime token`), kept out of server logs.
    const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
    return token ? new RealtimeClient({ url: wsUrl, token: async () => token }) : null;
  });
  useEffect(() => {
    if (!client) return;
    client.start();
    return () => client.stop();
  }, [client]);
  if (!client) return <SignIn onClient={setClient} />;
  return (
    <RealtimeProvider client={client}>
      <App />
    </RealtimeProvider>
  );
}

const root = document.getElementById("root");
if (root)
  createRoot(root).render(
    <StrictMode>
      <Root />
    </StrictMode>,
  );
