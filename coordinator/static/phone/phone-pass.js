// The phone page of a campus pass (docs/passes.md, "On a phone").
//
// First open, with the one-time link's token in the fragment (#t=...): make an Ed25519 key pair
// with WebCrypto (the private key is not extractable and is kept in IndexedDB), send only the
// public key to claim the link, and keep the signed pass the coordinator returns. From then on,
// with or without a network: every 30 s show the rotating code
//   "CR1:" + Base45(signed pass || step || holder signature of
//                   "campus-pass-rotating-v1\0" || pass id || step)
// where step = floor(unix seconds / 30), as protocols/passes.py (rotating_code, read_pass) does.
"use strict";

(() => {
  const PERIOD_S = 30;
  const PREFIX = "CR1:";
  const DOMAIN = new TextEncoder().encode("campus-pass-rotating-v1\0");
  const BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  const PASS_ID_AT = 10; // version, flags, 8-byte key id, then the 16-byte pass id
  const PASS_ID_BYTES = 16;
  const MODULE_PX = 5;
  const QUIET_MODULES = 4;
  const DB_NAME = "campus-pass";
  const STORE = "pass";
  const RECORD = "current";

  const $ = (id) => document.getElementById(id);

  function base45(bytes) {
    let text = "";
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      const n = bytes[i] * 256 + bytes[i + 1];
      text += BASE45[n % 45] + BASE45[Math.floor(n / 45) % 45] + BASE45[Math.floor(n / 2025)];
    }
    if (bytes.length % 2) {
      const n = bytes[bytes.length - 1];
      text += BASE45[n % 45] + BASE45[Math.floor(n / 45)];
    }
    return text;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  function stepBytes(step) {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, step, false);
    return bytes;
  }

  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));

  // --- IndexedDB: the pass and the phone's key, which survive reloads and the network going ---

  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function stored(mode, use) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(STORE, mode);
      const request = use(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
    });
  }

  const loadPass = () => stored("readonly", (store) => store.get(RECORD));
  const savePass = (record) => stored("readwrite", (store) => store.put(record, RECORD));

  // --- claiming the one-time link ---------------------------------------------------------------

  class Refused extends Error {}

  async function claim(token) {
    let keys;
    try {
      keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    } catch {
      throw new Error(
        "This browser cannot make a pass key: update it, or ask the pass office for a printed pass.",
      );
    }
    const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
    const response = await fetch(`/api/v1/pass-links/${encodeURIComponent(token)}/claim`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ holder_key: toBase64(publicKey) }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Refused(answer.message || `The pass office answered ${response.status}.`);
    }
    const record = {
      privateKey: keys.privateKey,
      signedPass: fromBase64(answer.signed_pass),
      name: answer.student_name,
      zones: answer.zones,
      validFrom: answer.valid_from,
      validUntil: answer.valid_until,
    };
    await savePass(record);
    return record;
  }

  // --- showing the rotating code ----------------------------------------------------------------

  async function rotatingCode(record, step) {
    const passId = record.signedPass.subarray(PASS_ID_AT, PASS_ID_AT + PASS_ID_BYTES);
    const stepped = stepBytes(step);
    const signature = await crypto.subtle.sign(
      { name: "Ed25519" },
      record.privateKey,
      concat(DOMAIN, passId, stepped),
    );
    return PREFIX + base45(concat(record.signedPass, stepped, new Uint8Array(signature)));
  }

  function draw(canvas, text) {
    const qr = qrcode(0, "M"); // level M, smallest version that fits, as docs/passes.md says
    qr.addData(text, "Alphanumeric");
    qr.make();
    const modules = qr.getModuleCount();
    const side = (modules + 2 * QUIET_MODULES) * MODULE_PX;
    canvas.width = side;
    canvas.height = side;
    const pen = canvas.getContext("2d");
    pen.fillStyle = "#fff";
    pen.fillRect(0, 0, side, side);
    pen.fillStyle = "#000";
    for (let row = 0; row < modules; row += 1) {
      for (let col = 0; col < modules; col += 1) {
        if (qr.isDark(row, col)) {
          const x = (col + QUIET_MODULES) * MODULE_PX;
          pen.fillRect(x, (row + QUIET_MODULES) * MODULE_PX, MODULE_PX, MODULE_PX);
        }
      }
    }
  }

  function say(text, isProblem) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("problem", Boolean(isProblem));
  }

  const day = (iso) => new Date(iso).toLocaleDateString(undefined, { dateStyle: "medium" });

  function show(record, note) {
    const canvas = $("code");
    $("pass").hidden = false;
    $("name").textContent = record.name;
    $("validity").textContent = `Valid ${day(record.validFrom)} to ${day(record.validUntil)}`;
    $("zones").textContent = `Opens: ${record.zones.join(", ")}`;
    const from = Date.parse(record.validFrom) / 1000;
    const until = Date.parse(record.validUntil) / 1000;
    let shown = null;
    let drawing = false;

    async function tick() {
      const now = Date.now() / 1000;
      if (now > until) {
        canvas.hidden = true;
        $("countdown").textContent = "";
        say(`This pass expired on ${day(record.validUntil)}. Ask the pass office for a new one.`, true);
        return;
      }
      const step = Math.floor(now / PERIOD_S);
      $("countdown").textContent = `New code in ${PERIOD_S - Math.floor(now % PERIOD_S)} s`;
      if (now < from) {
        say(`This pass is valid from ${day(record.validFrom)}.`, true);
      } else {
        say(note || "Show this code at the gate.", false);
      }
      if (step === shown || drawing) return;
      drawing = true;
      try {
        draw(canvas, await rotatingCode(record, step));
        canvas.dataset.step = String(step);
        shown = step;
      } finally {
        drawing = false;
      }
    }

    tick();
    setInterval(tick, 1000);
  }

  async function main() {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/p/sw.js", { scope: "/p/" }).catch(() => {});
    }
    if (!window.crypto || !crypto.subtle || !window.indexedDB) {
      say("This browser cannot keep a pass: open the link over https in an up-to-date browser.", true);
      return;
    }
    const token = new URLSearchParams(location.hash.slice(1)).get("t");
    let record = await loadPass().catch(() => undefined);
    let note = "";
    if (token) {
      try {
        record = await claim(token);
        history.replaceState(null, "", location.pathname);
      } catch (error) {
        if (error instanceof Refused) history.replaceState(null, "", location.pathname);
        if (!record) {
          say(error.message, true);
          return;
        }
        note = `${error.message} This phone's pass is shown below.`;
      }
    }
    if (!record) {
      say("No pass on this phone yet: open the link the pass office gave you.", true);
      return;
    }
    show(record, note);
  }

  main();
})();
