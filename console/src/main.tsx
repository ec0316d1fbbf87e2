/** The Sagaflow web console: a client of the admin API, routed on the client (History API). */
import { render } from "preact";
import { useState } from "preact/hooks";
import { adminToken, setAdminToken, useTokenRefused } from "./api.ts";
import { Link, useLocation } from "./router.tsx";
import { Consumers } from "./pages/consumers.tsx";
import { Entities } from "./pages/entities.tsx";
import { Overview } from "./pages/overview.tsx";
import { ProcessMapPage } from "./pages/process-map.tsx";
import { Timers } from "./pages/timers.tsx";
import { Views } from "./pages/views.tsx";
import { Workflow } from "./pages/workflow.tsx";
import { Workflows } from "./pages/workflows.tsx";

const sections = [
  ["/", "Overview"],
  ["/workflows", "Workflows"],
  ["/process-map", "Process map"],
  ["/entities", "Entities"],
  ["/consumers", "Consumers"],
  ["/timers", "Timers"],
  ["/views", "Views"],
] as const;

function decode(part: string | undefined): string | undefined {
  if (part === undefined || part === "") return undefined;
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function Page({ path, search }: { path: string; search: string }) {
  const [first, a, b] = path.split("/").slice(1).map(decode);
  switch (first) {
    case undefined:
      return <Overview />;
    case "workflows":
      return a !== undefined && b !== undefined ? <Workflow name={a} id={b} search={search} key={`${a}/${b}`} /> : <Workflows search={search} />;
    case "process-map":
      return <ProcessMapPage name={a} search={search} />;
    case "entities":
      return <Entities component={a} id={b} search={search} />;
    case "consumers":
      return <Consumers name={a} />;
    case "timers":
      return <Timers />;
    case "views":
      return <Views />;
    default:
      return (
        <div class="page">
          <h1>Not found</h1>
          <p>The console has no page {path}. <Link href="/">Go to the overview</Link>.</p>
        </div>
      );
  }
}

/** Where the admin API asks for a token: kept in this browser's local storage and sent as a bearer token. */
function TokenForm() {
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState("");
  const has = adminToken() !== null;
  const refused = useTokenRefused();
  if (!open) {
    const label = !has ? "admin token" : refused ? "admin token ✗ refused" : "admin token ✓";
    return <button class={`link${refused ? " refused" : ""}`} onClick={() => setOpen(true)} title={refused ? "the admin API refused the saved token: enter the right one" : undefined}>{label}</button>;
  }
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setAdminToken(value.trim() || null);
        location.reload();
      }}
    >
      <input type="password" aria-label="admin token" placeholder="admin token (empty: none)" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      <button type="submit">Save</button>
      <button type="button" onClick={() => setOpen(false)}>Cancel</button>
    </form>
  );
}

function App() {
  const { path, search } = useLocation();
  const current = "/" + (path.split("/")[1] ?? "");
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <Link href="/" class="brand">Sagaflow</Link>
        <nav aria-label="sections">
          {sections.map(([href, label]) => (
            <Link key={href} href={href} class={current === href ? "active" : ""}>{label}</Link>
          ))}
        </nav>
        <TokenForm />
      </header>
      <main id="main">
        <Page path={path} search={search} />
      </main>
    </>
  );
}

// Preact renders beside what the container holds: take the "Loading…" placeholder out first.
const root = document.getElementById("app")!;
root.replaceChildren();
render(<App />, root);
