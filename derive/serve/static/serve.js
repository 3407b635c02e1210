/* derive serve: a few lines of plain JavaScript (no build step, no CDN). Without it every form
   still works as a plain HTML form; with it, answers, hints and derivations update in place. */
(function () {
  "use strict";

  function swapFrom(html, target) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var same = target.id && doc.getElementById(target.id);
    target.innerHTML = same ? same.innerHTML : doc.body.innerHTML;
  }

  var pending = {};
  function send(form, submitter) {
    var target = document.querySelector(form.getAttribute("data-swap"));
    var body = new URLSearchParams(submitter ? new FormData(form, submitter) : new FormData(form));
    var id = form.getAttribute("data-swap");
    if (pending[id]) { pending[id].abort(); }
    var control = new AbortController();
    pending[id] = control;
    target.setAttribute("aria-busy", "true");
    return fetch(form.action, {method: "POST", body: body, signal: control.signal,
                               headers: {"Content-Type": "application/x-www-form-urlencoded"}})
      .then(function (response) { return response.text(); })
      .then(function (html) {
        swapFrom(html, target);
        target.removeAttribute("aria-busy");
        var share = target.querySelector("[data-share]");
        if (share && id === "#result") { history.replaceState(null, "", share.getAttribute("href")); }
        afterSwap(target, submitter);
      })
      .catch(function (error) {
        if (error.name !== "AbortError") {
          target.removeAttribute("aria-busy");
          target.innerHTML = '<p class="error" role="alert"></p>';
          target.firstChild.textContent = "derive: error: the server did not answer (" + error.message + ")";
        }
      });
  }

  function afterSwap(target, submitter) {
    if (!submitter) { return; }
    var step = submitter.name === "check" ? target.querySelector(".step:not(.correct):not(.carried) input[name^='answer:']")
      : submitter.value && target.querySelector(".step[data-key='" + CSS.escape(submitter.value) + "'] input[name^='answer:']");
    if (step) { step.focus(); }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-swap")) { return; }  // downloads: the browser saves the file
    event.preventDefault();
    send(form, event.submitter);
  });

  var timer = null;
  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (!form || !form.hasAttribute("data-live")) { return; }
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (form.elements.equations.value.trim()) { send(form, null); }
    }, 600);
  });

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.hasAttribute("data-into") || !input.files.length) { return; }
    var reader = new FileReader();
    reader.onload = function () {
      var area = input.form.elements[input.getAttribute("data-into")];
      area.value = reader.result;
      send(input.form, null);
    };
    reader.readAsText(input.files[0]);
  });

  document.addEventListener("click", function (event) {
    var tab = event.target.closest("[data-tab]");
    if (!tab) { return; }
    document.querySelectorAll("[data-tab]").forEach(function (t) {
      t.setAttribute("aria-selected", t === tab ? "true" : "false");
    });
    document.querySelectorAll("form.tab").forEach(function (f) {
      f.hidden = f.id !== "tab-" + tab.getAttribute("data-tab");
    });
  });
})();
