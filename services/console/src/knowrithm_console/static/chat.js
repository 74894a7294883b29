// Playground and transcripts: a streamed answer, and the passage a citation names.
// The question is posted to the console (which holds the API token); the answer's events come
// from the console's stream; the finished answer is fetched rendered by the console and appended
// to the answers log (role="log": announced once). Tokens go to an element that is not live.
(function () {
  "use strict";

  function csrfOf(form) {
    var input = form.querySelector('input[name="csrf_token"]');
    return input ? input.value : "";
  }

  function setupAsk(form) {
    var question = document.getElementById("question");
    var error = document.getElementById("question-error");
    var status = document.getElementById("chat-status");
    var answers = document.getElementById("answers");
    var streaming = document.getElementById("streaming");
    var streamingText = document.getElementById("streaming-text");
    var button = document.getElementById("ask-button");
    var conversation = document.getElementById("conversation_id");

    function showError(text) {
      error.textContent = text;
      error.hidden = false;
      question.setAttribute("aria-invalid", "true");
      question.focus();
    }

    function clearError() {
      error.textContent = "";
      error.hidden = true;
      question.removeAttribute("aria-invalid");
    }

    function appendTurn(role, text) {
      var article = document.createElement("article");
      article.className = "turn turn-" + role;
      var who = document.createElement("h3");
      who.className = "turn-who";
      who.textContent = form.dataset.msgQuestion;
      article.appendChild(who);
      var body = document.createElement("div");
      body.className = "turn-text";
      body.textContent = text;
      article.appendChild(body);
      answers.appendChild(article);
    }

    function finish(answerUrl, failedText) {
      fetch(answerUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var article = holder.querySelector("article");
          streaming.hidden = true;
          streamingText.textContent = "";
          if (article) { answers.appendChild(article); }
          status.textContent = failedText || form.dataset.msgDone;
          button.disabled = false;
          question.focus();
        });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearError();
      var text = question.value.trim();
      if (!text) { question.reportValidity(); return; }
      button.disabled = true;
      status.textContent = form.dataset.msgAsking;
      fetch(form.action, {
        method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRF-Token": csrfOf(form) }
      }).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (result) {
        if (!result.ok) {
          if (result.body.conversation_id) { conversation.value = result.body.conversation_id; }
          button.disabled = false;
          status.textContent = "";
          showError(result.body.error || "Error");
          return;
        }
        var sent = result.body;
        conversation.value = sent.conversation_id;
        appendTurn("user", text);
        question.value = "";
        streamingText.textContent = "";
        streaming.hidden = false;
        var source = new EventSource(sent.stream_url);
        var done = false;
        source.addEventListener("started", function () { streamingText.textContent = ""; });
        source.addEventListener("token", function (e) {
          var data = JSON.parse(e.data);
          if (data.message_id && data.message_id !== sent.message_id) { return; }
          streamingText.textContent += data.text;
        });
        source.addEventListener("completed", function () {
          done = true; source.close(); finish(sent.answer_url, "");
        });
        source.addEventListener("failed", function (e) {
          done = true; source.close();
          var data = JSON.parse(e.data);
          finish(sent.answer_url, form.dataset.msgFailed + " " + (data.message || data.error || ""));
        });
        source.onerror = function () {
          if (done) { return; }
          done = true; source.close(); finish(sent.answer_url, form.dataset.msgLost);
        };
      }).catch(function () {
        button.disabled = false;
        status.textContent = form.dataset.msgLost;
      });
    });

    question.addEventListener("keydown", function (event) {
      // Enter sends, Shift+Enter starts a new line (as in most chat boxes).
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
  }

  function setupPassages() {
    var dialog = document.getElementById("passage");
    if (!dialog) { return; }
    var body = document.getElementById("passage-body");
    var opener = null;
    document.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[data-passage]") : null;
      if (!button) { return; }
      opener = button;
      fetch(button.dataset.passage, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          body.innerHTML = html;
          dialog.showModal();
          document.getElementById("passage-close").focus();
        });
    });
    dialog.addEventListener("close", function () { if (opener) { opener.focus(); } });
  }

  var form = document.getElementById("ask");
  if (form) { setupAsk(form); }
  setupPassages();
})();
