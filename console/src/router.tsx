/** Client-side routing on the History API: every page has a stable URL the admin server answers with the console. */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

export interface Location {
  path: string;
  search: string;
}

const listeners = new Set<() => void>();

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  for (const listener of listeners) listener();
}

export function useLocation(): Location {
  const read = () => ({ path: location.pathname, search: location.search });
  const [where, setWhere] = useState<Location>(read);
  useEffect(() => {
    const update = () => setWhere(read());
    listeners.add(update);
    addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      removeEventListener("popstate", update);
    };
  }, []);
  return where;
}

/** An ordinary link (keyboard, middle-click and copy work) that navigates without a reload. */
export function Link(props: { href: string; children: ComponentChildren; class?: string; title?: string }) {
  return (
    <a
      href={props.href}
      class={props.class}
      title={props.title}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

/** A path segment, encoded. */
export const seg = (s: string) => encodeURIComponent(s);
