// Access to the API: the token (from the login form, or handed over once as #token=… by
// `lagezentrum demo`) lives in sessionStorage only, goes out as `Authorization: Bearer` and, for
// the websocket (browsers cannot set headers there), as the subprotocol "bearer.<token>".
import { el } from "./dom.js";
import { t } from "./i18n.js";

const KEY = "lz.token";

(function takeTokenFromUrl() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
})();

export function token() {
  return sessionStorage.getItem(KEY);
}

export function wsProtocols() {
  const current = token();
  return current ? ["lagezentrum", `bearer.${current}`] : ["lagezentrum"];
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/** fetch() with the token; a 401 asks for a login. */
export async function api(path, options = {}) {
  const headers = new Headers(options.headers ?? {});
  const current = token();
  if (current) headers.set("Authorization", `Bearer ${current}`);
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) onUnauthorized();
  return response;
}

/** JSON in, JSON (or a problem document) out. */
export async function send(method, path, body) {
  const response = await api(path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let doc = null;
  try {
    doc = await response.json();
  } catch {
    doc = null;
  }
  return { ok: response.ok, status: response.status, doc };
}

export function logout() {
  sessionStorage.removeItem(KEY);
  location.reload();
}

/** The login form over the whole display; a successful check reloads with the new token. */
export function showLogin(reason = "") {
  if (document.getElementById("login")) return;
  const input = el("input", { id: "login-token", type: "password", autocomplete: "off", required: true, placeholder: "lz_…" });
  const message = el("p", { class: "login-message", role: "alert", text: reason });
  const form = el("form", { id: "login", class: "login" },
    el("h2", { text: t("login.title") }),
    el("label", { for: "login-token", text: t("login.token") }),
    input,
    message,
    el("button", { type: "submit", class: "tool", text: t("login.submit") }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const candidate = input.value.trim();
    const response = await fetch("/api/v1/me", { headers: { Authorization: `Bearer ${candidate}` } });
    if (response.ok) {
      sessionStorage.setItem(KEY, candidate);
      location.reload();
    } else {
      message.textContent = t("login.refused");
    }
  });
  document.body.append(el("div", { class: "login-backdrop" }, form));
  input.focus();
}
