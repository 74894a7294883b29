/*! Knowrithm chat widget.
 *
 * Embed:  <script src="https://YOUR-KNOWRITHM/widget.js" data-agent-id="AGENT_ID" async></script>
 *
 * One file, no dependencies, no build step. The widget reads the agent's public settings
 * (GET /api/v1/widget/agent/{id}), shows a launcher bubble, asks for the visitor's details when
 * the agent captures leads (POST /api/v1/lead/register), then chats: messages go to
 * POST /api/v1/conversation/{id}/chat and answers stream from GET …/messages/stream, read with
 * fetch() so the lead token travels in the Authorization header, never in a URL.
 * The lead token and conversation id are kept in localStorage per agent.
 * Text from the agent, the visitor or the model is only ever set with textContent, and links
 * are http(s) only: nothing it shows can run script on the host page. Styles live in a shadow
 * root, so the host page's CSS and the widget's do not touch.
 */
(function () {
  "use strict";

  var STORE_PREFIX = "knowrithm.widget.";
  var RETRY_MS = [1000, 2000, 5000, 10000];
  var UNREACHABLE = "Cannot reach the chat service. Check your connection and try again.";
  var SESSION_ENDED = "Your chat session has ended. Please start a new one.";
  var COLOUR = /^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/;
  var SVG_NS = "http://www.w3.org/2000/svg";

  var CSS = [
    ":host { all: initial; }",
    "[hidden] { display: none !important; }",
    ".kw-root { position: fixed; bottom: 20px; right: 20px; z-index: 2147483000; color: #111827;",
    "  font: 14px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; }",
    ".kw-root.kw-left { right: auto; left: 20px; }",
    ".kw-launcher { width: 56px; height: 56px; border-radius: 50%; border: 0; cursor: pointer;",
    "  background: var(--kw-primary); color: var(--kw-text); display: flex; align-items: center;",
    "  justify-content: center; box-shadow: 0 4px 14px rgba(0,0,0,.25); }",
    ".kw-launcher svg { width: 28px; height: 28px; fill: currentColor; }",
    ".kw-panel { position: absolute; bottom: 72px; right: 0; width: 360px; height: 520px;",
    "  max-width: calc(100vw - 40px); max-height: calc(100vh - 120px); background: #fff;",
    "  border-radius: 12px; box-shadow: 0 10px 30px rgba(0,0,0,.25); display: flex;",
    "  flex-direction: column; overflow: hidden; }",
    ".kw-left .kw-panel { right: auto; left: 0; }",
    ".kw-header { background: var(--kw-primary); color: var(--kw-text); padding: 12px 14px;",
    "  display: flex; align-items: center; gap: 10px; }",
    ".kw-avatar { width: 32px; height: 32px; border-radius: 50%; object-fit: cover; }",
    ".kw-title { flex: 1; font-weight: 600; font-size: 15px; }",
    ".kw-close { background: transparent; border: 0; color: inherit; font-size: 22px; cursor: pointer; }",
    ".kw-error { background: #fef2f2; color: #991b1b; padding: 8px 12px; font-size: 13px; }",
    ".kw-status { color: #6b7280; padding: 4px 12px; font-size: 12px; }",
    ".kw-lead { padding: 16px; display: flex; flex-direction: column; gap: 12px; overflow-y: auto; }",
    ".kw-lead label { display: flex; flex-direction: column; gap: 4px; font-size: 13px; }",
    ".kw-lead label.kw-consent { flex-direction: row; align-items: flex-start; gap: 8px; }",
    ".kw-field { padding: 8px; border: 1px solid #d1d5db; border-radius: 6px; font: inherit; }",
    ".kw-button { background: var(--kw-primary); color: var(--kw-text); border: 0; border-radius: 6px;",
    "  padding: 9px 14px; font: inherit; cursor: pointer; }",
    ".kw-button:disabled { opacity: .6; cursor: default; }",
    ".kw-chat { flex: 1; display: flex; flex-direction: column; min-height: 0; }",
    ".kw-messages { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column;",
    "  gap: 8px; background: #f9fafb; }",
    ".kw-msg { max-width: 85%; padding: 8px 11px; border-radius: 10px; white-space: pre-wrap;",
    "  overflow-wrap: anywhere; }",
    ".kw-user { align-self: flex-end; background: var(--kw-primary); color: var(--kw-text); }",
    ".kw-assistant { align-self: flex-start; background: #fff; border: 1px solid #e5e7eb; }",
    ".kw-failed { border-color: #fca5a5; background: #fef2f2; color: #991b1b; }",
    ".kw-pending .kw-text:empty::after { content: '\\2026'; color: #6b7280; }",
    ".kw-citations { margin: 6px 0 0; padding: 6px 0 0; border-top: 1px solid #e5e7eb; list-style: none;",
    "  font-size: 12px; color: #4b5563; white-space: normal; }",
    ".kw-citations a { color: inherit; }",
    ".kw-composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; }",
    ".kw-input { flex: 1; resize: none; }",
  ].join("\n");

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function chatIcon() {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z");
    svg.appendChild(path);
    return svg;
  }

  function safeUrl(value) {
    return typeof value === "string" && /^https?:\/\//i.test(value) ? value : null;
  }

  function storage() {
    try {
      return window.localStorage;
    } catch (e) {
      return null; // blocked (sandboxed page, privacy settings): the session lasts the page view
    }
  }

  /** A readable sentence from a failed response in the platform's error shape. */
  function reasonOf(status, body) {
    if (body && typeof body.message === "string" && body.message) {
      var detail = Array.isArray(body.detail) && body.detail[0] && body.detail[0].msg;
      return detail && body.error === "validation_error" ? body.message + ": " + detail : body.message;
    }
    return "The chat service answered with an error (" + status + "). Please try again.";
  }

  function ApiError(status, body) {
    this.status = status;
    this.code = body && body.error;
    this.message = status === 0 ? UNREACHABLE : reasonOf(status, body);
  }

  // ---- the widget ----------------------------------------------------------------------------

  function Widget(script, agentId) {
    this.agentId = agentId;
    this.base = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
    this.storeKey = STORE_PREFIX + agentId;
    this.session = null;
    this.bubbles = {};
    this.stream = null;
    this.retries = 0;
    this.connectedOnce = false;
    this.chatShown = false;
  }

  Widget.prototype.request = function (method, path, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.session) headers.Authorization = "Bearer " + this.session.token;
    return fetch(this.base + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
    }).then(
      function (res) {
        return res.text().catch(function () { return ""; }).then(function (text) {
          var data = null;
          try {
            data = text ? JSON.parse(text) : null;
          } catch (e) {
            data = null;
          }
          if (!res.ok) throw new ApiError(res.status, data);
          return data;
        });
      },
      function () {
        throw new ApiError(0, null);
      }
    );
  };

  Widget.prototype.start = function () {
    var self = this;
    return this.request("GET", "/api/v1/widget/agent/" + encodeURIComponent(this.agentId)).then(
      function (config) {
        self.config = config;
        self.session = self.loadSession();
        self.render();
      },
      function (error) {
        // A site should not show a broken bubble: say why in the console only.
        if (window.console) console.warn("Knowrithm widget not shown: " + error.message);
      }
    );
  };

  // ---- session (lead token + conversation), kept per agent ------------------------------------

  Widget.prototype.loadSession = function () {
    var store = storage();
    try {
      var saved = store && JSON.parse(store.getItem(this.storeKey) || "null");
      if (saved && saved.token && saved.conversationId && Date.parse(saved.expiresAt) > Date.now()) {
        return saved;
      }
    } catch (e) {
      /* a damaged entry is the same as none */
    }
    return null;
  };

  Widget.prototype.saveSession = function (session) {
    this.session = session;
    var store = storage();
    try {
      if (store) store.setItem(this.storeKey, JSON.stringify(session));
    } catch (e) {
      /* full or blocked: the session lasts the page view */
    }
  };

  Widget.prototype.endSession = function (reason) {
    var store = storage();
    try {
      if (store) store.removeItem(this.storeKey);
    } catch (e) {
      /* nothing to forget */
    }
    this.session = null;
    this.closeStream();
    this.showLeadForm();
    this.showError(reason || SESSION_ENDED);
  };

  /** The handler of any failed call: a dead session goes back to the form, the rest is shown. */
  Widget.prototype.fail = function (error) {
    if (error.status === 401 || (error.status === 404 && error.code === "conversation_not_found")) {
      this.endSession(error.status === 401 ? error.message : SESSION_ENDED);
    } else {
      this.showError(error.message || UNREACHABLE);
    }
  };

  // ---- DOM ----------------------------------------------------------------------------------

  Widget.prototype.render = function () {
    var config = this.config;
    var theme = config.theme || {};
    var host = el("div", { "data-knowrithm-widget": this.agentId });
    var shadow = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    shadow.appendChild(el("style", { text: CSS }));

    this.root = el("div", { className: "kw-root" + (theme.position === "left" ? " kw-left" : "") });
    this.root.style.setProperty("--kw-primary", COLOUR.test(theme.primary_color) ? theme.primary_color : "#2563eb");
    this.root.style.setProperty("--kw-text", COLOUR.test(theme.text_color) ? theme.text_color : "#ffffff");

    this.launcher = el("button", {
      className: "kw-launcher",
      type: "button",
      "aria-label": "Chat with " + config.name,
      "aria-expanded": "false",
    }, [chatIcon()]);
    this.launcher.addEventListener("click", this.toggle.bind(this));

    this.panel = this.buildPanel();
    this.root.appendChild(this.panel);
    this.root.appendChild(this.launcher);
    shadow.appendChild(this.root);
    document.body.appendChild(host);
  };

  Widget.prototype.buildPanel = function () {
    var config = this.config;
    var header = el("div", { className: "kw-header" });
    var avatar = safeUrl(config.avatar_url);
    if (avatar) header.appendChild(el("img", { className: "kw-avatar", src: avatar, alt: "" }));
    header.appendChild(el("div", { className: "kw-title", text: config.title || config.name }));
    var close = el("button", { className: "kw-close", type: "button", "aria-label": "Close chat", text: "\u00d7" });
    close.addEventListener("click", this.toggle.bind(this));
    header.appendChild(close);

    this.error = el("div", { className: "kw-error", role: "alert", hidden: true });
    this.leadForm = this.buildLeadForm();
    this.chat = this.buildChat();
    return el("div", { className: "kw-panel", role: "dialog", "aria-label": config.title || config.name, hidden: true },
      [header, this.error, this.leadForm, this.chat]);
  };

  Widget.prototype.buildLeadForm = function () {
    var form = el("form", { className: "kw-lead", hidden: true });
    var capture = this.config.lead_capture !== false;
    form.appendChild(el("p", {
      text: capture ? "Tell us who you are and we'll start the chat." : "Start a chat with " + this.config.name + ".",
    }));
    if (capture) {
      form.appendChild(el("label", {}, ["First name",
        el("input", { className: "kw-field", name: "first_name", type: "text", required: true,
          maxlength: "100", autocomplete: "given-name" })]));
      form.appendChild(el("label", {}, ["Email",
        el("input", { className: "kw-field", name: "email", type: "email", required: true,
          maxlength: "255", autocomplete: "email" })]));
    }
    form.appendChild(el("label", { className: "kw-consent" }, [
      el("input", { name: "consent", type: "checkbox", required: true }),
      "I agree that my details and messages are processed to answer my questions.",
    ]));
    form.appendChild(el("button", { className: "kw-button kw-start", type: "submit", text: "Start chat" }));
    form.addEventListener("submit", this.register.bind(this));
    return form;
  };

  Widget.prototype.buildChat = function () {
    this.messages = el("div", { className: "kw-messages", role: "log", "aria-live": "polite" });
    this.status = el("div", { className: "kw-status", hidden: true });
    this.input = el("textarea", { className: "kw-field kw-input", name: "message", rows: "2",
      placeholder: "Type your question\u2026", "aria-label": "Your message", maxlength: "4000" });
    this.send = el("button", { className: "kw-button kw-send", type: "submit", text: "Send", disabled: true });
    var composer = el("form", { className: "kw-composer" }, [this.input, this.send]);
    composer.addEventListener("submit", this.ask.bind(this));
    var self = this;
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        self.ask(event);
      }
    });
    return el("div", { className: "kw-chat", hidden: true }, [this.messages, this.status, composer]);
  };

  Widget.prototype.toggle = function () {
    var opening = this.panel.hidden;
    this.panel.hidden = !opening;
    this.launcher.setAttribute("aria-expanded", String(opening));
    if (!opening) return;
    if (this.session) this.showChat();
    else this.showLeadForm();
  };

  Widget.prototype.showError = function (message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  };

  Widget.prototype.showStatus = function (message) {
    this.status.textContent = message || "";
    this.status.hidden = !message;
  };

  Widget.prototype.showLeadForm = function () {
    this.chat.hidden = true;
    this.leadForm.hidden = false;
    this.chatShown = false;
  };

  Widget.prototype.showChat = function () {
    this.leadForm.hidden = true;
    this.chat.hidden = false;
    if (this.chatShown) return;
    this.chatShown = true;
    this.showError("");
    var self = this;
    // History first, then the stream: its `ready` enables sending, so no answer can be missed.
    this.loadHistory().then(function () {
      if (self.session && !self.stream) self.openStream();
    });
  };

  // ---- lead registration -------------------------------------------------------------------

  Widget.prototype.register = function (event) {
    event.preventDefault();
    var self = this;
    var form = this.leadForm;
    var button = form.querySelector(".kw-start");
    var body = { agent_id: this.agentId, consent_data_processing: true, start_conversation: true, source: "widget" };
    if (this.config.lead_capture !== false) {
      body.first_name = form.elements.first_name.value.trim();
      body.email = form.elements.email.value.trim();
    }
    button.disabled = true;
    this.showError("");
    this.request("POST", "/api/v1/lead/register", body).then(
      function (data) {
        button.disabled = false;
        if (!data || !data.lead_token || !data.conversation) {
          self.showError("The chat could not be started. Please try again.");
          return;
        }
        self.saveSession({ token: data.lead_token, conversationId: data.conversation.id, expiresAt: data.expires_at });
        self.showChat();
      },
      function (error) {
        button.disabled = false;
        self.showError(error.message);
      }
    );
  };

  // ---- messages ------------------------------------------------------------------------------

  Widget.prototype.path = function (suffix) {
    return "/api/v1/conversation/" + encodeURIComponent(this.session.conversationId) + suffix;
  };

  Widget.prototype.scroll = function () {
    this.messages.scrollTop = this.messages.scrollHeight;
  };

  Widget.prototype.addUserMessage = function (text) {
    var node = el("div", { className: "kw-msg kw-user", text: text });
    this.messages.appendChild(node);
    this.scroll();
    return node;
  };

  /** The bubble of an assistant message, made (pending) on first sight of its id. */
  Widget.prototype.bubble = function (messageId) {
    var found = messageId && this.bubbles[messageId];
    if (found) return found;
    var text = el("span", { className: "kw-text" });
    var node = el("div", { className: "kw-msg kw-assistant kw-pending", "data-message-id": messageId }, [text]);
    found = { node: node, text: text };
    if (messageId) this.bubbles[messageId] = found;
    this.messages.appendChild(node);
    this.scroll();
    return found;
  };

  Widget.prototype.appendToken = function (data) {
    var bubble = this.bubble(data.message_id);
    bubble.text.textContent += data.text || "";
    this.scroll();
  };

  Widget.prototype.complete = function (message) {
    var bubble = this.bubble(message.id);
    bubble.node.classList.remove("kw-pending", "kw-failed");
    bubble.text.textContent = message.content || "";
    var old = bubble.node.querySelector(".kw-citations");
    if (old) old.remove();
    var citations = message.citations || [];
    if (citations.length) bubble.node.appendChild(this.citationList(citations));
    this.scroll();
  };

  Widget.prototype.citationList = function (citations) {
    var list = el("ul", { className: "kw-citations", "aria-label": "Sources" });
    citations.forEach(function (c) {
      var name = String(c.document_name || "source");
      var url = safeUrl(c.url);
      var item = el("li", { className: "kw-citation" }, ["[" + c.source_number + "] "]);
      item.appendChild(url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: name })
        : document.createTextNode(name));
      if (c.page !== null && c.page !== undefined) item.appendChild(document.createTextNode(", p. " + c.page));
      list.appendChild(item);
    });
    return list;
  };

  Widget.prototype.failMessage = function (messageId, reason) {
    var bubble = this.bubble(messageId);
    bubble.node.classList.remove("kw-pending");
    bubble.node.classList.add("kw-failed");
    bubble.text.textContent = reason || "The agent could not answer. Please ask again.";
    this.scroll();
  };

  Widget.prototype.showMessage = function (message) {
    if (message.role === "user") this.addUserMessage(message.content);
    else if (message.status === "complete") this.complete(message);
    else if (message.status === "failed") this.failMessage(message.id, message.error);
    else this.bubble(message.id); // still being answered: its tokens or final event will come
  };

  Widget.prototype.loadHistory = function () {
    var self = this;
    return this.request("GET", this.path("/messages?per_page=100")).then(
      function (data) {
        self.messages.textContent = "";
        self.bubbles = {};
        var list = (data && data.messages) || [];
        if (!list.length && self.config.greeting) {
          self.messages.appendChild(el("div", { className: "kw-msg kw-assistant kw-greeting", text: self.config.greeting }));
        }
        list.forEach(self.showMessage.bind(self));
      },
      function (error) {
        if (error.status === 401 || error.status === 404) self.fail(error);
        else if (self.config.greeting && !self.messages.firstChild) {
          self.messages.appendChild(el("div", { className: "kw-msg kw-assistant kw-greeting", text: self.config.greeting }));
        }
      }
    );
  };

  Widget.prototype.ask = function (event) {
    event.preventDefault();
    var text = this.input.value.trim();
    if (!text || this.send.disabled || !this.session) return;
    var self = this;
    var mine = this.addUserMessage(text);
    this.input.value = "";
    this.send.disabled = true;
    this.showError("");
    this.request("POST", this.path("/chat"), { message: text }).then(
      function (accepted) {
        self.send.disabled = !self.ready;
        if (accepted && accepted.assistant_message_id) self.bubble(accepted.assistant_message_id);
      },
      function (error) {
        mine.remove();
        self.input.value = text; // nothing was sent: keep the question to send again
        self.send.disabled = !self.ready;
        self.fail(error);
      }
    );
  };

  // ---- the answer stream (Server-Sent Events over fetch) -------------------------------------

  Widget.prototype.closeStream = function () {
    if (this.stream) this.stream.abort();
    this.stream = null;
    this.ready = false;
    if (this.send) this.send.disabled = true;
  };

  Widget.prototype.openStream = function () {
    var self = this;
    this.closeStream();
    var controller = new AbortController();
    this.stream = controller;
    fetch(this.base + this.path("/messages/stream"), {
      headers: { Accept: "text/event-stream", Authorization: "Bearer " + this.session.token },
      credentials: "omit",
      cache: "no-store",
      signal: controller.signal,
    })
      .then(function (res) {
        if (!res.ok) {
          return res.json().catch(function () { return null; }).then(function (body) {
            throw new ApiError(res.status, body);
          });
        }
        return self.readEvents(res.body.getReader(), controller);
      })
      .then(
        function () { self.reconnect(controller, null); },
        function (error) { self.reconnect(controller, error instanceof ApiError ? error : null); }
      );
  };

  Widget.prototype.readEvents = function (reader, controller) {
    var self = this;
    var decoder = new TextDecoder();
    var buffer = "";
    function next() {
      return reader.read().then(function (chunk) {
        if (chunk.done || controller.signal.aborted) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          self.dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
        return next();
      });
    }
    return next();
  };

  Widget.prototype.dispatch = function (block) {
    var name = "message";
    var data = [];
    block.split("\n").forEach(function (line) {
      line = line.replace(/\r$/, "");
      if (line.indexOf("event:") === 0) name = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
    });
    if (!data.length) return; // a keep-alive comment
    var payload;
    try {
      payload = JSON.parse(data.join("\n"));
    } catch (e) {
      return;
    }
    this.onEvent(name, payload);
  };

  Widget.prototype.onEvent = function (name, data) {
    if (name === "ready") {
      this.ready = true;
      this.retries = 0;
      this.send.disabled = false;
      this.showStatus("");
      if (this.connectedOnce) this.loadHistory(); // catch up on what was said while away
      this.connectedOnce = true;
    } else if (name === "started") {
      this.bubble(data.message_id);
    } else if (name === "token") {
      this.appendToken(data);
    } else if (name === "completed" && data.message) {
      this.complete(data.message);
    } else if (name === "failed") {
      this.failMessage(data.message_id, data.message);
    }
  };

  Widget.prototype.reconnect = function (controller, error) {
    if (this.stream !== controller || controller.signal.aborted) return; // closed on purpose
    this.ready = false;
    this.send.disabled = true;
    if (error && (error.status === 401 || error.status === 403 || error.status === 404)) {
      this.stream = null;
      this.fail(error);
      return;
    }
    var delay = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)];
    this.retries += 1;
    this.showStatus("Reconnecting\u2026");
    var self = this;
    setTimeout(function () {
      if (self.stream === controller && self.session) self.openStream();
    }, delay);
  };

  // ---- boot ----------------------------------------------------------------------------------

  function findScript() {
    if (document.currentScript && document.currentScript.getAttribute("data-agent-id")) {
      return document.currentScript;
    }
    var scripts = document.querySelectorAll("script[data-agent-id]");
    for (var i = 0; i < scripts.length; i++) {
      if (/\/widget\.js(?:[?#]|$)/.test(scripts[i].src) && !scripts[i].hasAttribute("data-knowrithm-started")) {
        return scripts[i];
      }
    }
    return null;
  }

  var script = findScript();
  if (!script || script.hasAttribute("data-knowrithm-started")) return;
  script.setAttribute("data-knowrithm-started", "");
  var widget = new Widget(script, script.getAttribute("data-agent-id"));
  if (document.body) widget.start();
  else document.addEventListener("DOMContentLoaded", function () { widget.start(); });
})();
