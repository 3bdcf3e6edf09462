/*! kqa chat widget: questions about 《深入剖析Kubernetes》, answered from the column with citations.
 *
 *   <script src="https://HOST/widget.js" data-kqa-endpoint="https://HOST" defer></script>
 *
 * One vanilla custom element, <kqa-chat>, with an open Shadow DOM: the page's CSS cannot reach
 * inside and the widget adds nothing to the page but itself. Every string that comes from the
 * API or the corpus is rendered as text (text nodes, textContent), never parsed as HTML.
 * Language: each answer's labels are in its question's language, the rest in the reader's latest
 * question's, else the page's (`data-kqa-lang="auto"`); `zh` or `en` forces one.
 * Configuration: docs/widget.md.
 */
(() => {
  "use strict";
  if (!window.customElements || customElements.get("kqa-chat")) return;

  const SCRIPT = document.currentScript || document.querySelector("script[src*='widget.js']");
  const STORE = "kqa-chat:";
  const KEEP = 60; // messages kept in sessionStorage
  const MAX_CHARS = 2000;
  const THEME = ["accent", "on-accent", "bg", "fg", "dark-accent", "dark-on-accent", "dark-bg", "dark-fg",
    "font", "radius"];
  const OPTIONS = ["endpoint", "title", "lang", "open", "examples", "position", "api-key", "theme", ...THEME];

  const TEXT = {
    zh: {
      title: "Kubernetes 专栏问答",
      launch: "打开专栏问答", close: "关闭", fresh: "新对话", log: "对话",
      label: "你的问题", placeholder: "输入问题…", send: "发送",
      hint: "回答依据专栏原文，标明出处", keys: " · Enter 发送，Shift+Enter 换行",
      hello: "你好！问我任何关于《深入剖析Kubernetes》专栏的问题，回答只依据专栏原文，每句都标明出处。",
      tryThese: "可以试试：",
      examples: ["为什么容器里只能跑一个进程？", "Pod 为什么没有固定 IP？", "Deployment 是怎么做滚动更新的？"],
      you: "你：", bot: "kqa：", typing: "正在回答…",
      refused: "专栏里没有找到答案", stop: "。", sources: "出处", closest: "最接近的段落",
      context: "结合上文理解：", sep: "、",
      lecture: (n) => `第${String(n).padStart(2, "0")}讲`,
      faq: (lecture) => (lecture ? `FAQ（${lecture}）` : "FAQ "),
      cite: (n, where) => `出处 ${n}：${where}`,
      source: "阅读原文",
      ask: "这个回答有帮助吗？", up: "有帮助", down: "没帮助",
      thanks: "谢谢反馈！", fbFail: "反馈没发出去，请再试一次。",
      what: "哪里不对？", cmSend: "发送", skip: "跳过",
      answered: "kqa 回答：", cleared: "已开始新对话",
      retry: "重试", retryIn: (s) => `重试（${s} 秒）`,
      err: {
        net: "连不上 kqa 服务，请检查网络后重试。",
        busy: (s) => `提问有点频繁，请 ${s} 秒后再试。`,
        server: "kqa 暂时出了点问题，请稍后重试。",
        key: "这个网站的 kqa 访问密钥无效，请联系站长。",
        bad: "这个问题没能提交。",
        cut: "回答中断了，请重试。",
      },
    },
    en: {
      title: "Ask the column",
      launch: "Ask a question about the column", close: "Close", fresh: "New chat", log: "Conversation",
      label: "Your question", placeholder: "Ask a question…", send: "Send",
      hint: "Answers come from the column, with sources", keys: " · Enter to send, Shift+Enter for a new line",
      hello: "Hi! Ask me anything about the column 《深入剖析Kubernetes》. Every answer comes from the " +
        "column and says where each part of it comes from.",
      tryThese: "Try one of these:",
      examples: ["Why should a container run only one process?", "Why can't I ping a Service?",
        "How does a Deployment do a rolling update?"],
      you: "You: ", bot: "kqa: ", typing: "Answering…",
      refused: "Not covered by the column", stop: ". ", sources: "Sources", closest: "Closest passages",
      context: "Read together with earlier turns: ", sep: ", ",
      lecture: (n) => `Lecture ${n}`,
      faq: (lecture) => (lecture ? `FAQ (${lecture}) · ` : "FAQ · "),
      cite: (n, where) => `Source ${n}: ${where}`,
      source: "Read the source",
      ask: "Was this answer helpful?", up: "Helpful", down: "Not helpful",
      thanks: "Thanks for the feedback!", fbFail: "Couldn't send the feedback; please try again.",
      what: "What was wrong?", cmSend: "Send", skip: "Skip",
      answered: "kqa answered: ", cleared: "Started a new conversation",
      retry: "Retry", retryIn: (s) => `Retry (${s} s)`,
      err: {
        net: "Can't reach kqa. Check your connection and try again.",
        busy: (s) => `Too many questions at once. Please wait ${s} s and try again.`,
        server: "kqa ran into a problem. Please try again in a moment.",
        key: "This site's kqa key was not accepted. Please tell the site owner.",
        bad: "That question could not be sent.",
        cut: "The answer was interrupted. Please try again.",
      },
    },
  };

  const HAN = /[\u3400-\u9fff\uf900-\ufaff]/; // as the server's CJK_RUN (bot/terms.py)
  /** "zh" for a Chinese language tag (zh, zh-CN, zh-Hant…), "en" for any other. */
  const tagLang = (tag) => (/^zh\b/i.test(tag || "") ? "zh" : "en");
  /** A question's language as the server answers it (any Han character: Chinese); text with
   *  neither Han nor Latin letters ("?", "42") says nothing, so `fallback`. */
  const langOf = (text, fallback) => (HAN.test(text) ? "zh" : /[A-Za-z]/.test(text) ? "en" : fallback);
  const langTag = (lang) => (lang === "zh" ? "zh-CN" : "en");

  /** White or near-black, whichever reads better on `color` (WCAG contrast); white when unknown. */
  function onColour(color) {
    const ctx = document.createElement("canvas").getContext("2d");
    if (!ctx) return "#fff";
    ctx.fillStyle = "#000";
    ctx.fillStyle = color; // normalised to #rrggbb (or rgba() with alpha); left as is when invalid
    const rgb = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(ctx.fillStyle);
    if (!rgb) return "#fff";
    const [r, g, b] = rgb.slice(1).map((x) => {
      const c = parseInt(x, 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return 1.05 / (lum + 0.05) >= (lum + 0.05) / 0.0637 ? "#fff" : "#1f1f1f"; // 0.0637: #1f1f1f's lum + 0.05
  }

  const ICONS = {
    chat: "M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zM7 9h10v2H7zm0-3h10v2H7zm0 6h7v2H7z",
    close: "M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z",
    fresh: "M19 13h-6v6h-2v-6H5v-2h6V5h2v6h6z",
    send: "M2.01 21 23 12 2.01 3 2 10l15 2-15 2z",
    info: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 15h-2v-6h2zm0-8h-2V7h2z",
    link: "M19 19H5V5h7V3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2v-7h-2zM14 3v2h3.59l-9.83 9.83 " +
      "1.41 1.41L19 6.41V10h2V3z",
    up: "M1 21h4V9H1zm22-11a2 2 0 0 0-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59" +
      "C7.22 7.95 7 8.45 7 9v10a2 2 0 0 0 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73z",
    down: "M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2a2 2 0 0 0 2 2h6.31l-.95 4.57" +
      "-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5a2 2 0 0 0-2-2zm4 0v12h4V3z",
  };

  const CSS = `
:host{all:initial!important;display:block!important;position:static!important}
[hidden]{display:none!important}
*,*::before,*::after{box-sizing:border-box}
.root{--a:var(--kqa-accent,#0b57d0);--on-a:var(--kqa-on-accent,#fff);--bg:var(--kqa-bg,#fff);
 --fg:var(--kqa-fg,#1f1f1f);--muted:#595e66;--soft:#f0f2f5;--line:#cfd4db;--mark:#ffe08a;--mark-fg:#1f1f1f;
 --warn:#7a4f00;--warn-bg:#fff4dc;--err:#a8231b;--err-bg:#fdecea;
 --shadow:0 12px 32px rgba(0,0,0,.18),0 2px 6px rgba(0,0,0,.12);
 font:15px/1.6 var(--kqa-font,system-ui,-apple-system,"Segoe UI","PingFang SC","Hiragino Sans GB",
 "Noto Sans CJK SC","Microsoft YaHei",sans-serif);color:var(--fg);direction:ltr;text-align:left;
 letter-spacing:normal;word-spacing:normal;text-transform:none;-webkit-text-size-adjust:100%}
.root.dark{--a:var(--kqa-dark-accent,var(--kqa-accent,#a8c7fa));
 --on-a:var(--kqa-dark-on-accent,var(--kqa-on-accent,#062e6f));
 --bg:var(--kqa-dark-bg,#1e1f22);--fg:var(--kqa-dark-fg,#e6e8eb);--muted:#b6bbc3;--soft:#2b2d31;--line:#4a4e56;
 --mark:#6b5500;--mark-fg:#fff6d6;--warn:#ffd27a;--warn-bg:#392e15;--err:#ffb4ab;--err-bg:#42201c;
 --shadow:0 12px 32px rgba(0,0,0,.55)}
button,textarea{font:inherit;color:inherit;margin:0;letter-spacing:inherit}
button{cursor:pointer;background:none;border:0;padding:0;text-align:inherit;-webkit-tap-highlight-color:transparent}
:focus-visible{outline:2px solid var(--a);outline-offset:2px}
p{margin:0}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip:rect(0 0 0 0);
 white-space:nowrap}
svg{width:20px;height:20px;fill:currentColor;flex:none}
.launch{position:fixed;bottom:20px;right:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;
 background:var(--a);color:var(--on-a);display:flex;align-items:center;justify-content:center;
 box-shadow:var(--shadow);transition:transform .15s}
.launch:hover{transform:scale(1.06)}
.launch svg{width:26px;height:26px}
.left .launch,.left .panel{right:auto;left:20px}
.panel{position:fixed;bottom:88px;right:20px;z-index:2147483000;width:380px;
 height:min(640px,calc(100vh - 108px));display:flex;flex-direction:column;background:var(--bg);color:var(--fg);
 border:1px solid var(--line);border-radius:var(--kqa-radius,14px);box-shadow:var(--shadow);overflow:hidden;
 animation:kqa-in .18s ease-out}
@keyframes kqa-in{from{opacity:0;transform:translateY(8px)}}
.head{display:flex;align-items:center;gap:6px;padding:8px 8px 8px 16px;background:var(--a);color:var(--on-a)}
.head h2{flex:1;margin:0;font-size:16px;font-weight:600;line-height:1.3;overflow:hidden;text-overflow:ellipsis;
 white-space:nowrap}
.head button{display:flex;align-items:center;gap:4px;min-height:36px;padding:0 10px;border-radius:18px;
 font-size:13px}
.head button:hover{background:color-mix(in srgb,currentColor 15%,transparent)}
.head button:focus-visible{outline-color:var(--on-a);outline-offset:-3px}
.head .x{width:36px;padding:0;justify-content:center}
.log{position:relative;flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:14px;
 overscroll-behavior:contain}
.log:focus-visible{outline-offset:-3px}
.user{align-self:flex-end;max-width:85%;background:var(--a);color:var(--on-a);padding:8px 12px;
 border-radius:14px 14px 4px 14px;white-space:pre-wrap;overflow-wrap:anywhere}
.bot{align-self:stretch}
.text{background:var(--soft);padding:10px 12px;border-radius:14px 14px 14px 4px;white-space:pre-wrap;
 overflow-wrap:anywhere}
.refused .text{background:var(--warn-bg)}
.flag{display:flex;align-items:center;gap:6px;color:var(--warn);font-weight:600;font-size:13px;margin:0 2px 6px}
.flag svg{width:16px;height:16px}
.ref{display:inline-flex;align-items:center;justify-content:center;min-width:20px;height:20px;padding:0 5px;
 margin:0 2px;border-radius:10px;background:var(--a);color:var(--on-a);font-size:12px;font-weight:600;
 line-height:1;vertical-align:2px}
.dots{display:inline-flex;gap:5px;padding:14px;background:var(--soft);border-radius:14px 14px 14px 4px}
.dots span{width:7px;height:7px;border-radius:50%;background:var(--muted);animation:kqa-dot 1s infinite}
.dots span:nth-child(2){animation-delay:.15s}.dots span:nth-child(3){animation-delay:.3s}
@keyframes kqa-dot{0%,80%,100%{opacity:.35}40%{opacity:1}}
.note{font-size:12px;color:var(--muted);margin:6px 2px 0}
.ch{font-size:12px;font-weight:600;color:var(--muted);margin:10px 2px 6px}
.cards{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}
.card{border:1px solid var(--line);border-radius:10px;background:var(--bg)}
.chead{display:grid;grid-template-columns:auto 1fr;gap:2px 8px;width:100%;padding:8px 10px;border-radius:9px}
.chead:hover{background:var(--soft)}
.num{grid-row:span 3;min-width:20px;height:20px;margin-top:1px;border-radius:10px;background:var(--a);
 color:var(--on-a);font-size:12px;font-weight:600;display:flex;align-items:center;justify-content:center}
.where{font-weight:600;font-size:13px;line-height:1.45}
.sec{font-size:12px;line-height:1.45;color:var(--muted)}
.q{font-size:13px;line-height:1.5;display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;
 overflow:hidden}
.open .q{display:none}
.cbody{padding:0 10px 10px 38px}
.passage{font-size:13px;line-height:1.7;white-space:pre-wrap;overflow-wrap:anywhere;max-height:240px;
 overflow-y:auto;padding:8px 10px;background:var(--soft);border-radius:8px}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;padding:1px 4px;border-radius:4px;
 background:color-mix(in srgb,currentColor 9%,transparent)}
pre{margin:6px 0;padding:8px 10px;overflow-x:auto;border-radius:8px;background:color-mix(in srgb,currentColor 7%,transparent)}
pre code{padding:0;background:none;white-space:pre}
mark{background:var(--mark);color:var(--mark-fg);border-radius:3px;padding:0 1px}
.src{display:inline-flex;align-items:center;gap:4px;margin-top:8px;font-size:13px;color:var(--fg);
 text-decoration:underline;text-underline-offset:2px}
.src svg{width:14px;height:14px}
.fb{display:flex;align-items:center;gap:2px;margin-top:6px;font-size:12px;color:var(--muted)}
.fbb{width:32px;height:32px;border-radius:16px;display:flex;align-items:center;justify-content:center}
.fbb svg{width:16px;height:16px}
.fbb:hover,.fbb[aria-pressed=true]{background:var(--soft);color:var(--fg)}
.fbb[aria-disabled=true]{cursor:default}
.fbmsg{margin-left:4px}
.cm{display:flex;flex-direction:column;gap:6px;margin-top:6px;font-size:13px;color:var(--fg)}
.cm textarea{flex:none;height:auto;max-height:none}
.cmb{display:flex;gap:8px}
.cmb button{padding:4px 14px;border:1px solid var(--line);border-radius:16px}
.cmb .cms{background:var(--a);color:var(--on-a);border-color:var(--a)}
.error{align-self:stretch;background:var(--err-bg);color:var(--err);border-radius:10px;padding:10px 12px;
 font-size:14px}
.detail{font-size:12px;margin-top:4px;color:var(--fg)}
.retry{margin-top:8px;padding:5px 14px;border:1px solid currentColor;border-radius:16px;font-size:13px;
 font-weight:600}
.retry[aria-disabled=true]{cursor:default;border-style:dashed}
.welcome{display:flex;flex-direction:column;gap:10px}
.welcome .text{border-radius:14px}
.tries{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}
.try{width:100%;padding:8px 12px;border:1px solid var(--line);border-radius:10px;font-size:14px;line-height:1.45}
.try:hover{background:var(--soft)}
.muted{font-size:12px;color:var(--muted)}
form{display:flex;align-items:flex-end;gap:8px;margin:0;padding:10px 12px 6px;border-top:1px solid var(--line)}
textarea{flex:1;resize:none;border:1px solid var(--line);border-radius:12px;padding:9px 12px;height:44px;
 max-height:140px;background:var(--bg);font-size:15px;line-height:1.5;overflow-y:auto}
textarea::placeholder{color:var(--muted);opacity:1}
.send{width:44px;height:44px;border-radius:50%;background:var(--a);color:var(--on-a);display:flex;
 align-items:center;justify-content:center}
.send[aria-disabled=true]{opacity:.6;cursor:default}
.hint{font-size:11px;line-height:1.4;color:var(--muted);text-align:center;padding:0 12px 8px}
@media (max-width:480px){
 .root .panel{inset:0;width:auto;height:auto;border:0;border-radius:0}
 .is-open .launch{display:none}
 textarea{font-size:16px}}
@media (pointer:coarse){.keys{display:none}}
@media (prefers-reduced-motion:reduce){
 *,*::before,*::after{animation:none!important;transition:none!important;scroll-behavior:auto!important}}
@media (forced-colors:active){.launch,.send,.ref,.num,.user{border:1px solid}}
`;

  /* ---- DOM, all text as text ------------------------------------------------------------- */

  /** An element; props are attributes (names are literals in this file), kids strings or nodes. */
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    el.append(...kids.flat().filter((k) => k != null && k !== false).map((k) => (k instanceof Node ? k : String(k))));
    return el;
  }

  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  function adopt(shadow, css) {
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      shadow.adoptedStyleSheets = [sheet]; // CSSOM: works under a strict style-src CSP
    } catch {
      shadow.append(h("style", {}, css));
    }
  }

  /** Only http(s) links, resolved against the API, become hrefs (no javascript: or data:). */
  function safeUrl(url, base) {
    if (!url || typeof url !== "string") return null;
    try {
      const u = new URL(url, base + "/");
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch {
      return null;
    }
  }

  /* ---- wire ------------------------------------------------------------------------------ */

  /** Server-sent events from a fetch body (EventSource cannot POST). */
  async function* sse(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
        buf = buf.replace(/\r\n/g, "\n").replace(/\r(?=.)/gs, "\n");
        let at;
        while ((at = buf.indexOf("\n\n")) >= 0) {
          const ev = parseEvent(buf.slice(0, at));
          buf = buf.slice(at + 2);
          if (ev) yield ev;
        }
        if (done) {
          const ev = parseEvent(buf);
          if (ev) yield ev;
          return;
        }
      }
    } finally {
      reader.cancel().catch(() => {}); // the reader stopped early (error event, new chat): free the body
    }
  }

  function parseEvent(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line[0] === ":") continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value[0] === " ") value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    return data.length ? { event, data: data.join("\n") } : null;
  }

  /** A problem+json response (or error event) → what the reader is told. */
  function failure(status, body, retryAfter) {
    const b = body && typeof body === "object" ? body : {};
    const kind = status === 429 ? "busy" : status === 401 || status === 403 ? "key"
      : status >= 500 || !status ? "server" : "bad";
    const text = (v) => (typeof v === "string" ? v.slice(0, 300) : "");
    const wait = Math.min(Math.max(Math.ceil(Number(retryAfter)) || 0, 0), 600);
    return {
      kind,
      wait: kind === "busy" ? wait || 5 : status === 503 ? wait : 0,
      detail: kind === "bad" ? text(b.detail) : kind === "server" ? text(b.title) : "",
      retry: kind !== "key" && kind !== "bad",
    };
  }

  async function problemOf(response) {
    let body = null;
    try {
      body = await response.json();
    } catch { /* not JSON: the status says enough */ }
    return failure(response.status, body, response.headers.get("retry-after"));
  }

  const netError = (kind) => ({ kind, wait: 0, detail: "", retry: true });
  const list = (v) => (Array.isArray(v) ? v.filter((x) => x != null) : []);

  function load(key) {
    try {
      const s = JSON.parse(sessionStorage.getItem(key));
      if (!s || !Array.isArray(s.msgs)) return null;
      const msgs = s.msgs.filter((m) => m && ((m.role === "user" && typeof m.text === "string")
        || (m.role === "bot" && typeof m.answer === "string")));
      for (const m of msgs) {
        if (m.role === "bot") {
          m.citations = list(m.citations).filter((c) => typeof c === "object");
          m.context_terms = list(m.context_terms);
        }
      }
      return { cid: typeof s.cid === "string" ? s.cid : null, open: typeof s.open === "boolean" ? s.open : null, msgs };
    } catch { /* storage blocked or corrupt: start empty */ }
    return null;
  }

  /* ---- the element ----------------------------------------------------------------------- */

  class KqaChat extends HTMLElement {
    connectedCallback() {
      if (this.root) return;
      const get = (name, fallback) => this.getAttribute(name) || fallback;
      const forced = /^(zh|en)\b/i.exec(get("lang", "auto"));
      this.forced = forced ? forced[1].toLowerCase() : null;
      const base = SCRIPT && SCRIPT.src ? new URL(SCRIPT.src, location.href).origin : location.origin;
      const examples = this.getAttribute("examples");
      this.cfg = {
        endpoint: new URL(get("endpoint", base), location.href).href.replace(/\/+$/, ""),
        title: get("heading", ""), // "": the default, in the widget's language
        examples: examples == null ? null : examples.split("|").map((s) => s.trim()).filter(Boolean),
        key: get("api-key", ""),
        theme: get("theme", "auto"),
      };
      for (const name of THEME) {
        const v = this.getAttribute(name);
        if (v) this.style.setProperty(`--kqa-${name}`, v);
      }
      this.pairAccents();
      this.storeKey = STORE + this.cfg.endpoint;
      this.state = load(this.storeKey) || { cid: null, open: null, msgs: [] };
      const asked = this.state.msgs.filter((m) => m.role === "user").pop();
      this.language = this.forced || (asked && asked.lang)
        || tagLang(document.documentElement.lang || navigator.language);
      this.seq = 0;
      this.running = null;

      const shadow = this.attachShadow({ mode: "open" });
      adopt(shadow, CSS);
      this.build(shadow, get("position", "") === "bottom-left");
      this.renderAll();
      const open = this.state.open ?? /^(true|1|yes|open)$/i.test(get("open", ""));
      if (open) this.open(false);
    }

    /** An accent set for one theme (attribute or the page's CSS) serves the other too unless that
     *  has its own (the CSS falls back); an accent's text colour, when not set, is computed. */
    pairAccents() {
      const css = getComputedStyle(this);
      const value = (name) => css.getPropertyValue(`--kqa-${name}`).trim();
      for (const [accent, on] of [["accent", "on-accent"], ["dark-accent", "dark-on-accent"]]) {
        if (value(accent) && !value(on)) this.style.setProperty(`--kqa-${on}`, onColour(value(accent)));
      }
    }

    get t() {
      return TEXT[this.language];
    }

    /** A message's language: forced, or its question's (older stored messages: the widget's). */
    langOfMsg(m) {
      return this.forced || (m && (m.lang === "zh" || m.lang === "en") ? m.lang : this.language);
    }

    build(shadow, left) {
      this.root = h("div", { class: left ? "root left" : "root" });
      const dark = window.matchMedia ? matchMedia("(prefers-color-scheme: dark)") : null;
      const paint = () => this.root.classList.toggle("dark",
        this.cfg.theme === "dark" || (this.cfg.theme !== "light" && !!dark && dark.matches));
      paint();
      if (dark && dark.addEventListener) dark.addEventListener("change", paint);

      this.launcher = h("button", { type: "button", class: "launch",
        "aria-expanded": "false", "aria-controls": "kqa-panel", onclick: () => this.toggle() }, icon("chat"));
      this.q = h("textarea", { id: "kqa-q", rows: 1, maxlength: MAX_CHARS,
        autocomplete: "off", enterkeyhint: "send", oninput: () => this.fit() });
      this.q.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
          e.preventDefault();
          this.submit();
        }
      });
      this.sendBtn = h("button", { type: "submit", class: "send" }, icon("send"));
      this.log = h("div", { class: "log", role: "log", "aria-live": "off", tabindex: 0 });
      const words = (this.words = {  // filled in the widget's language by relabel()
        title: h("h2", { id: "kqa-title" }),
        fresh: h("span"),
        close: h("button", { type: "button", class: "x", onclick: () => this.close() }, icon("close")),
        label: h("label", { class: "sr", for: "kqa-q" }),
        hint: h("span"),
        keys: h("span", { class: "keys" }),
      });
      this.live = h("div", { class: "sr", role: "status", "aria-live": "polite" });
      this.panel = h("section", { class: "panel", id: "kqa-panel", role: "dialog", "aria-modal": "false",
        "aria-labelledby": "kqa-title", hidden: true },
        h("div", { class: "head" },
          words.title,
          h("button", { type: "button", class: "fresh", onclick: () => this.reset() }, icon("fresh"), words.fresh),
          words.close),
        this.log,
        h("form", { onsubmit: (e) => { e.preventDefault(); this.submit(); } }, words.label, this.q, this.sendBtn),
        h("p", { class: "hint" }, words.hint, words.keys),
        this.live);
      this.root.append(this.launcher, this.panel);
      this.relabel();
      this.narrow = matchMedia("(max-width:480px)");
      this.root.addEventListener("keydown", (e) => {
        if (e.key === "Escape" && !e.isComposing && !this.panel.hidden) {
          e.preventDefault();
          this.close();
        } else if (e.key === "Tab" && this.isOpen && this.narrow.matches) this.trap(e);
      });
      shadow.append(this.root);
    }

    /** The widget's own words in its language (answers keep their own). */
    relabel() {
      const t = this.t;
      const w = this.words;
      this.root.setAttribute("lang", langTag(this.language));
      this.launcher.setAttribute("aria-label", t.launch);
      this.q.setAttribute("placeholder", t.placeholder);
      this.sendBtn.setAttribute("aria-label", t.send);
      this.log.setAttribute("aria-label", t.log);
      w.close.setAttribute("aria-label", t.close);
      w.title.textContent = this.cfg.title || t.title;
      w.fresh.textContent = t.fresh;
      w.label.textContent = t.label;
      w.hint.textContent = t.hint;
      w.keys.textContent = t.keys;
    }

    /* -- public API: el.open(), el.close(), el.ask(text), el.reset() -- */

    get isOpen() {
      return !!this.panel && !this.panel.hidden;
    }

    open(focus = true) {
      this.panel.hidden = false;
      this.panel.setAttribute("aria-modal", String(this.narrow.matches));
      this.root.classList.add("is-open");
      this.launcher.setAttribute("aria-expanded", "true");
      this.state.open = true;
      this.save();
      this.scroll();
      if (focus) this.q.focus();
    }

    close() {
      this.panel.hidden = true;
      this.root.classList.remove("is-open");
      this.launcher.setAttribute("aria-expanded", "false");
      this.state.open = false;
      this.save();
      this.launcher.focus();
    }

    /** Full screen on a phone the panel is modal: Tab and Shift+Tab cycle within it. */
    trap(e) {
      const all = [...this.panel.querySelectorAll("button,textarea,a[href],[tabindex]")]
        .filter((el) => el.tabIndex >= 0 && el.getClientRects().length);
      const at = this.shadowRoot.activeElement;
      const [first, last] = [all[0], all[all.length - 1]];
      const to = !this.panel.contains(at) ? (e.shiftKey ? last : first)
        : e.shiftKey ? at === first && last : at === last && first;
      if (to) {
        e.preventDefault();
        to.focus();
      }
    }

    toggle() {
      if (this.isOpen) this.close();
      else this.open();
    }

    ask(text) {
      if (!this.isOpen) this.open();
      return this.send(text);
    }

    reset() {
      if (this.running) this.running.abort();
      this.running = null;
      this.state = { cid: null, open: this.isOpen, msgs: [] };
      this.save();
      this.renderAll();
      this.busy(false);
      this.q.value = "";
      this.fit();
      this.q.focus();
      this.say(this.t.cleared);
    }

    /* -- state -- */

    save() {
      try {
        this.state.msgs = this.state.msgs.slice(-KEEP);
        sessionStorage.setItem(this.storeKey, JSON.stringify(this.state));
      } catch { /* storage full or blocked: the chat still works, it just won't survive a reload */ }
    }

    say(text) {
      this.live.textContent = "";
      setTimeout(() => { this.live.textContent = text; }, 50);
    }

    busy(on) {
      this.sendBtn.setAttribute("aria-disabled", String(on));
    }

    fit() {
      this.q.style.height = "";
      this.q.style.height = `${Math.min(this.q.scrollHeight + 2, 140)}px`;
    }

    scroll() {
      this.log.scrollTop = this.log.scrollHeight;
    }

    /** Keep the newest answer in view: down to its end, but never past its question's top. */
    follow(v) {
      const log = this.log;
      const start = (v.el.previousElementSibling || v.el).offsetTop - 8;
      log.scrollTop = Math.min(log.scrollHeight - log.clientHeight, start);
    }

    /* -- rendering -- */

    renderAll() {
      this.log.replaceChildren();
      const msgs = this.state.msgs;
      if (!msgs.length) this.log.append(this.welcome());
      for (const m of msgs) {
        if (m.role === "user") this.log.append(this.userEl(m));
        else this.log.append(this.restore(m).el);
      }
      const last = msgs[msgs.length - 1];
      if (last && last.role === "user") this.log.append(this.errorEl(netError("cut"), last));
    }

    welcome() {
      const t = this.t;
      const ex = this.cfg.examples || t.examples;
      return h("div", { class: "welcome" },
        h("p", { class: "text" }, t.hello),
        ex.length ? h("p", { class: "muted" }, t.tryThese) : null,
        ex.length ? h("ul", { class: "tries" }, ex.map((q) =>
          h("li", {}, h("button", { type: "button", class: "try", onclick: () => this.send(q) }, q)))) : null);
    }

    userEl(m) {
      const lang = this.langOfMsg(m);
      return h("div", { class: "msg user", lang: langTag(lang) }, h("span", { class: "sr" }, TEXT[lang].you), m.text);
    }

    /** An answer bubble, filled as events arrive: fill() on citations, paint() on text, finish() on done. */
    view(m) {
      const lang = this.langOfMsg(m);
      const t = TEXT[lang];
      const v = { m, t, id: `kqa-m${++this.seq}`, cards: new Map(), byN: new Map() };
      v.flag = h("p", { class: "flag", hidden: true }, icon("info"), t.refused);
      v.text = h("p", { class: "text", hidden: true });
      v.dots = h("div", { class: "dots" }, h("span"), h("span"), h("span"), h("span", { class: "sr" }, t.typing));
      v.note = h("p", { class: "note", hidden: true });
      v.cites = h("div", { class: "cites" });
      v.fb = h("div", { class: "fbwrap" });
      v.el = h("div", { class: "msg bot", id: v.id, lang: langTag(lang), "aria-busy": "true" },
        h("span", { class: "sr" }, t.bot), v.flag, v.dots, v.text, v.note, v.cites, v.fb);
      return v;
    }

    restore(m) {
      const v = this.view(m);
      this.fill(v);
      this.paint(v, true);
      this.finish(v);
      return v;
    }

    fill(v) {
      const { m, t } = v;
      v.byN = new Map(m.citations.map((c) => [Number(c.n), c]));
      v.el.classList.toggle("refused", !!m.refused);
      v.flag.hidden = !m.refused;
      const terms = m.context_terms.map(String).filter(Boolean);
      v.note.hidden = !terms.length;
      v.note.textContent = t.context + terms.join(t.sep);
      v.cards.clear();
      v.cites.replaceChildren(...(m.citations.length ? [
        h("p", { class: "ch" }, m.refused ? t.closest : t.sources),
        h("ul", { class: "cards" }, m.citations.map((c) => this.card(v, c))),
      ] : []));
    }

    paint(v, final) {
      let s = String(v.m.answer || "");
      if (!final) s = s.replace(/\[\d*$/, ""); // hold back a marker that has not fully arrived
      if (!s && !final) return;
      v.dots.hidden = true;
      v.text.hidden = false;
      // [n] markers become buttons (the k-th [n] points at the k-th sentence quoted from passage n),
      // a fenced block a <pre>, `inline code` a <code> element; everything else stays text
      const seen = new Map();
      v.text.replaceChildren(...s.split(/\[(\d+)\]/).flatMap((p, i) => {
        if (i % 2 === 0) return this.prose(p);
        const c = v.byN.get(Number(p));
        if (!c) return [`[${p}]`];
        const k = seen.get(c.n) || 0;
        seen.set(c.n, k + 1);
        return [this.marker(v, c, k)];
      }));
    }

    finish(v) {
      v.dots.hidden = true;
      v.text.hidden = false;
      v.el.removeAttribute("aria-busy");
      v.fb.replaceChildren(this.feedback(v) || "");
    }

    /** A FAQ entry is named as one: its title is a reader's question, not its lecture's title. */
    where(v, c) {
      const lecture = c.lecture == null || c.lecture === "" ? "" : v.t.lecture(c.lecture);
      const faq = String(c.source ?? "").startsWith("faq/");
      return (faq ? v.t.faq(lecture) : lecture && `${lecture} · `) + String(c.title ?? "");
    }

    prose(text) {
      return text.split(/```[^\n]*\n([\s\S]*?)```/).flatMap((part, i) => (i % 2
        ? [h("pre", {}, h("code", {}, part.replace(/\n$/, "")))]
        : part.split(/`([^`\n]+)`/).map((q, j) => (j % 2 ? h("code", {}, q) : q)))).filter(Boolean);
    }

    marker(v, c, k = 0) {
      return h("button", { type: "button", class: "ref", "aria-label": v.t.cite(c.n, this.where(v, c)),
        onclick: () => this.expand(v, Number(c.n), true, k) }, String(c.n));
    }

    /** The quote a marker points at: the k-th of the citation's quotes (older answers have one). */
    quoteOf(c, k) {
      const quotes = Array.isArray(c.quotes) && c.quotes.length ? c.quotes : [c.quote];
      return String(quotes[Math.min(k, quotes.length - 1)] ?? "");
    }

    highlight(passage, text, quote) {
      const at = quote ? text.indexOf(quote) : -1;
      passage.replaceChildren(...(at < 0 ? [text] : [text.slice(0, at), h("mark", {}, quote),
        text.slice(at + quote.length)]));
    }

    card(v, c) {
      const bodyId = `${v.id}-c${Number(c.n)}`;
      const text = String(c.text ?? "");
      const quote = this.quoteOf(c, 0);
      const passage = h("p", { class: "passage" });
      this.highlight(passage, text, quote);
      const href = safeUrl(c.url, this.cfg.endpoint);
      const body = h("div", { class: "cbody", id: bodyId, hidden: true }, passage,
        href ? h("a", { class: "src", href, target: "_blank", rel: "noopener noreferrer" },
          v.t.source, icon("link")) : null);
      const head = h("button", { type: "button", class: "chead", "aria-expanded": "false", "aria-controls": bodyId,
        onclick: () => this.expand(v, Number(c.n), false) },
        h("span", { class: "num" }, String(c.n)),
        h("span", { class: "where" }, this.where(v, c)),
        c.section ? h("span", { class: "sec" }, String(c.section)) : null,
        quote ? h("span", { class: "q" }, `「${quote}」`) : null);
      const li = h("li", { class: "card" }, head, body);
      v.cards.set(Number(c.n), { li, head, body, passage, c, text });
      return li;
    }

    /** Expand a citation in place: from its [n] marker (always opens, moves focus) or its header (toggles). */
    expand(v, n, fromMarker, k = 0) {
      const card = v.cards.get(n);
      if (!card) return;
      if (fromMarker) this.highlight(card.passage, card.text, this.quoteOf(card.c, k));
      const open = fromMarker || card.head.getAttribute("aria-expanded") !== "true";
      card.head.setAttribute("aria-expanded", String(open));
      card.body.hidden = !open;
      card.li.classList.toggle("open", open);
      const mark = card.passage.querySelector("mark");
      if (open && mark) card.passage.scrollTop = Math.max(0, mark.offsetTop - card.passage.offsetTop - 24);
      if (fromMarker) {
        card.head.focus();
        card.li.scrollIntoView({ block: "nearest" });
      }
    }

    feedback(v) {
      const { m, t } = v;
      if (!m.answer_id) return null;
      const status = h("span", { class: "fbmsg", role: "status" }, m.rating ? t.thanks : "");
      const buttons = ["up", "down"].map((rating) => h("button", { type: "button", class: "fbb",
        "aria-label": t[rating], "aria-pressed": String(m.rating === rating),
        "aria-disabled": m.rating ? "true" : null, "data-rating": rating,
        onclick: () => v.form || (rating === "up" ? this.rate(v, rating, buttons, status)
          : this.comment(v, buttons, status)) }, icon(rating)));
      return h("div", { class: "fb", role: "group", "aria-label": t.ask },
        h("span", { "aria-hidden": "true" }, t.ask), ...buttons, status);
    }

    /** Thumbs down: the vote is posted at once (it counts even if the reader walks away), then an
     *  optional comment amends that same vote on Send; Skip or Esc just close the box. */
    comment(v, buttons, status) {
      if (v.m.rating) return;
      const { t } = v;
      const id = `${v.id}-cm`;
      const box = h("textarea", { id, class: "cmq", rows: 3, maxlength: 1000 });
      const done = async (text) => {
        await v.pending;
        if (await this.rate(v, "down", buttons, status, text.trim())) {
          form.remove();
          v.form = null;
          buttons[1].focus();
        }
      };
      const form = (v.form = h("div", { class: "cm", onkeydown: (e) => {
        if (e.isComposing) return;
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target === box) done(box.value);
        else if (e.key === "Escape") done("");
        else return;
        e.preventDefault();
        e.stopPropagation(); // Esc skips the comment; it does not close the panel
      } }, h("label", { for: id }, t.what), box,
      h("div", { class: "cmb" },
        h("button", { type: "button", class: "cms", onclick: () => done(box.value) }, t.cmSend),
        h("button", { type: "button", class: "cmk", onclick: () => done("") }, t.skip))));
      for (const b of buttons) {
        b.setAttribute("aria-pressed", String(b.dataset.rating === "down"));
        b.setAttribute("aria-disabled", "true");
      }
      v.fb.append(form);
      box.focus();
      v.pending = this.rate(v, "down", buttons, status);
    }

    /** Post a vote, or amend the one already posted when there is a comment to add. */
    async rate(v, rating, buttons, status, comment) {
      const { m } = v;
      if (v.rating) return false;
      if (m.rating && !comment) return true;
      v.rating = true;
      try {
        const body = { answer_id: m.answer_id, rating };
        if (comment) body.comment = comment;
        if (m.rating && m.feedback_id) body.amends = m.feedback_id;
        const r = await fetch(`${this.cfg.endpoint}/v1/feedback`, { method: "POST", headers: this.headers(),
          body: JSON.stringify(body) });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        m.rating = rating;
        m.feedback_id = (await r.json()).feedback_id;
        this.save();
        for (const b of buttons) {
          b.setAttribute("aria-pressed", String(b.dataset.rating === rating));
          b.setAttribute("aria-disabled", "true");
        }
        status.textContent = v.t.thanks;
        return true;
      } catch {
        status.textContent = v.t.fbFail;
        return false;
      } finally {
        v.rating = false;
      }
    }

    errorEl(err, user) {
      const t = TEXT[this.langOfMsg(user)];
      const box = h("div", { class: "msg error", role: "alert" },
        h("p", {}, err.kind === "busy" ? t.err.busy(err.wait) : t.err[err.kind]),
        err.detail ? h("p", { class: "detail" }, err.detail) : null);
      if (err.retry) {
        let wait = err.wait;
        const btn = h("button", { type: "button", class: "retry", onclick: () => {
          if (wait > 0 || this.running) return;
          box.remove();
          this.run(user);
        } }, t.retry);
        const tick = () => {
          btn.textContent = wait > 0 ? t.retryIn(wait) : t.retry;
          btn.setAttribute("aria-disabled", String(wait > 0));
          if (wait-- > 0) setTimeout(tick, 1000);
        };
        tick();
        box.append(btn);
      }
      return box;
    }

    /* -- conversation -- */

    headers(stream) {
      // X-KQA-Door: the question log and /metrics count the widget's questions apart from other HTTP clients.
      const hd = { "Content-Type": "application/json", "X-KQA-Door": "widget" };
      if (stream) hd.Accept = "text/event-stream";
      if (this.cfg.key) hd["X-API-Key"] = this.cfg.key;
      return hd;
    }

    submit() {
      performance.mark && performance.mark("kqa-send");
      if (this.send(this.q.value)) {
        this.q.value = "";
        this.fit();
      }
    }

    send(text) {
      const message = String(text ?? "").trim().slice(0, MAX_CHARS);
      if (!message || this.running) return false;
      for (const el of this.log.querySelectorAll(".error, .welcome")) el.remove();
      const lang = this.forced || langOf(message, this.language);
      const user = { role: "user", text: message, lang };
      if (lang !== this.language) {
        this.language = lang; // the reader's language from now on, for the widget's own words too
        this.relabel();
      }
      this.state.msgs.push(user);
      this.save();
      this.log.append(this.userEl(user));
      this.run(user);
      return true;
    }

    async run(user, fresh) {
      const m = { role: "bot", lang: this.langOfMsg(user), answer: "", refused: false, citations: [], context_terms: [], answer_id: null,
        rating: null };
      const v = this.view(m);
      this.log.append(v.el);
      this.scroll();
      const ctrl = (this.running = new AbortController());
      this.busy(true);
      this.say(v.t.typing);
      let started = false;
      let done = false;
      try {
        const body = { message: user.text };
        if (this.state.cid && !fresh) body.conversation_id = this.state.cid;
        const r = await fetch(`${this.cfg.endpoint}/v1/chat`, { method: "POST", headers: this.headers(true),
          body: JSON.stringify(body), signal: ctrl.signal });
        started = true;
        if (r.status === 404 && body.conversation_id) { // the conversation expired: start a new one
          v.el.remove();
          this.running = null;
          return this.run(user, true);
        }
        if (!r.ok) throw await problemOf(r);
        if ((r.headers.get("content-type") || "").includes("text/event-stream")) {
          for await (const ev of sse(r.body)) {
            let data = {};
            try {
              data = JSON.parse(ev.data);
            } catch { /* a malformed event is skipped */ }
            if (ev.event === "error") throw failure(Number(data && data.status) || 500, data, 0);
            done = this.on(v, ev.event, data) || done;
          }
        } else {
          const d = await r.json();
          this.on(v, "citations", d);
          this.on(v, "delta", { text: d.answer });
          done = this.on(v, "done", d);
        }
        if (!done) throw netError("cut");
      } catch (e) {
        if (ctrl.signal.aborted) return;
        v.el.remove();
        this.log.append(this.errorEl(e && e.kind ? e : netError(started ? "cut" : "net"), user));
        this.scroll();
      } finally {
        if (this.running === ctrl) {
          this.running = null;
          this.busy(false);
        }
      }
    }

    on(v, name, d) {
      const { m } = v;
      if (!d || typeof d !== "object") return false;
      if (name === "citations") {
        if (typeof d.conversation_id === "string") this.state.cid = d.conversation_id;
        m.answer_id = d.answer_id == null ? null : String(d.answer_id);
        m.refused = d.refused === true;
        m.citations = list(d.citations).filter((c) => typeof c === "object");
        m.context_terms = list(d.context_terms);
        this.fill(v);
        this.follow(v);
      } else if (name === "delta") {
        if (!m.answer && performance.mark) {
          performance.mark("kqa-first-token");
        }
        m.answer += String(d.text ?? "");
        this.paint(v, false);
        this.follow(v);
      } else if (name === "replace") {
        // a generated answer failed its citation check after streaming: show the column's own sentences
        m.answer = String(d.text ?? "");
        this.paint(v, false);
        this.follow(v);
      } else if (name === "done") {
        // the final answer and citations win over what was streamed (a generated answer's citations
        // are only known at the end); shown as text like everything else
        if (typeof d.answer === "string") m.answer = d.answer;
        if (Array.isArray(d.citations)) {
          const cites = d.citations.filter((c) => typeof c === "object");
          if (JSON.stringify(cites) !== JSON.stringify(m.citations)) {
            m.citations = cites;
            this.fill(v);
          }
        }
        this.paint(v, true);
        this.finish(v);
        this.state.msgs.push(m);
        this.save();
        this.follow(v);
        const plain = m.answer.replace(/\[\d+\]/g, "");
        this.say(v.t.answered + (m.refused ? v.t.refused + v.t.stop : "") + plain);
        return true;
      }
      return false;
    }
  }

  customElements.define("kqa-chat", KqaChat);

  /** The script tag's data-kqa-* options become the element's attributes. */
  function mount() {
    if (document.querySelector("kqa-chat")) return;
    const el = document.createElement("kqa-chat");
    for (const name of OPTIONS) {
      const value = SCRIPT && SCRIPT.getAttribute(`data-kqa-${name}`);
      // "title" on the host element would be a tooltip over the whole widget
      if (value == null || (name === "lang" && !/^(zh|en)\b/i.test(value))) continue; // auto: the default
      el.setAttribute(name === "title" ? "heading" : name, value);
    }
    document.body.append(el);
  }

  /** Any element on the page with data-kqa-ask="question" opens the chat and asks it. */
  document.addEventListener("click", (e) => {
    const target = e.target instanceof Element ? e.target.closest("[data-kqa-ask]") : null;
    const chat = target && document.querySelector("kqa-chat");
    if (!chat || !chat.ask) return;
    e.preventDefault();
    chat.ask(target.getAttribute("data-kqa-ask") || target.textContent);
  });

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
