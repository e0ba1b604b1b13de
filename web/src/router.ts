// Hash routes (#/campaigns, #/campaigns/new, #/campaigns/<id>, #/till, #/wallet): the
// server serves one page, so every view works from a bookmark without server routes.
import { useEffect, useState } from "preact/hooks";

export function currentRoute(): string[] {
  return location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
}

export function useRoute(): string[] {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const changed = () => setRoute(currentRoute());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

export function navigate(...parts: string[]): void {
  location.hash = `#/${parts.map(encodeURIComponent).join("/")}`;
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join("/")}`;
}

/** Run `tick` now and every `seconds` while the page is visible; stop on unmount. */
export function usePolling(tick: () => void, seconds: number, deps: unknown[]): void {
  useEffect(() => {
    tick();
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") tick();
    }, seconds * 1000);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}
