/* derive worksheet: checks answers in the page, offline, by the tolerance rules of `derive check`
   (derive/checking/answers.py): a number is right when the exact value, rounded to the significant
   figures written, gives it (± half a unit in the last digit written); a number with 10 or more
   significant digits is a machine value, right within a relative 1e-9; a single-digit whole number
   and a fraction are exact; fewer than 2 significant figures are too few unless exactly right; a
   spec's tolerance (relative or absolute) replaces the digits rule. A matrix is checked entry by
   entry. Three tries per step; the hints grow: the known mistake or the rule, then the formula with
   its numbers, then the value. */
(function () {
  "use strict";
  var MIN_SIGNIFICANT = 2, MACHINE_DIGITS = 10, MACHINE_RTOL = 1e-9, TRIES = 3;

  function unscramble(text, seed) {
    var bytes = Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); });
    var state = 0x811c9dc5, seedBytes = new TextEncoder().encode(seed), i;
    for (i = 0; i < seedBytes.length; i++) { state = Math.imul(state ^ seedBytes[i], 0x01000193) >>> 0; }
    state = state || 1;
    for (i = 0; i < bytes.length; i++) {
      state ^= state << 13; state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5; state >>>= 0;
      bytes[i] ^= state & 0xff;
    }
    return JSON.parse(new TextDecoder("utf-8").decode(bytes));
  }

  /* One number as typed: {value, digits (null: exact), rtol (machine value), whole, decimals}. */
  function readNumber(raw) {
    var text = raw.trim().replace(/^(≈|~|\\approx)\s*/, "").replace(/\s*(…|\.\.\.)$/, "")
      .replace(/−/g, "-").replace(/\s+/g, "");
    var m = /^([+-]?\d+)\/([+-]?\d+)$/.exec(text);
    if (m) {
      if (Number(m[2]) === 0) { return {error: "division by zero"}; }
      return {value: Number(m[1]) / Number(m[2]), digits: null, whole: false};
    }
    m = /^[+-]?(\d+\.?\d*|\.\d+)(?:[eE]([+-]?\d+))?$/.exec(text);
    if (!m) { return {error: "not a number"}; }
    var value = Number(text), mantissa = m[1], digits;
    if (/^[+-]?\d+$/.test(text)) {  // a whole number as typed
      var n = text.replace(/^[+-]/, "").replace(/^0+(?=\d)/, "");
      if (n.length < 2) { return {value: value, digits: null, whole: true}; }
      digits = n.replace(/0+$/, "").length || 1;
    } else {
      digits = Math.max(mantissa.replace(".", "").replace(/^0+/, "").length, 1);
    }
    var decimals = (mantissa.split(".")[1] || "").length - (m[2] ? Number(m[2]) : 0);
    return {value: value, digits: digits, rtol: digits >= MACHINE_DIGITS ? MACHINE_RTOL : null,
            whole: false, decimals: decimals};
  }

  function halfUnit(answer) {
    if (answer.value === 0) { return 0.5 * Math.pow(10, -answer.decimals); }
    return 0.5 * Math.pow(10, Math.floor(Math.log10(Math.abs(answer.value))) - Math.max(answer.digits, 1) + 1);
  }

  function matches(answer, want, tol) {
    var given = answer.value, gap = Math.abs(given - want);
    if (gap <= 1e-12 * Math.max(1, Math.abs(want))) { return true; }  // equal, up to float noise
    if (answer.rtol && gap <= answer.rtol * Math.abs(want)) { return true; }
    if (tol) { return gap <= (tol.atol || 0) + (tol.rtol || 0) * Math.abs(want); }
    if (answer.digits === null) { return false; }
    return gap <= halfUnit(answer) * (1 + 1e-9);
  }

  function roundsTo(want, whole) { return Math.round(want) === whole && Math.abs(want - whole) < 0.5; }

  /* One number against its exact value: "correct", "few" (too few digits) or "incorrect". */
  function judgeNumber(answer, want, tol) {
    var exactly = matches({value: answer.value, digits: null}, want, null);
    var tooFew = !tol && answer.digits !== null && answer.digits < MIN_SIGNIFICANT && !exactly;
    if (!tooFew && matches(answer, want, tol)) { return "correct"; }
    if (answer.whole && !tol && roundsTo(want, answer.value)) { tooFew = true; }
    if (tooFew && (answer.whole || matches(answer, want, null))) { return "few"; }
    return "incorrect";
  }

  /* A matrix as typed: [[1, 2], [3, 4]], [1, 2; 3, 4], [1; 2] or [1, 2]: rows of entry texts. */
  function readMatrix(raw) {
    var text = raw.trim().replace(/−/g, "-");
    if (/^\[\s*\[/.test(text)) {
      var rows = text.replace(/^\[\s*/, "").replace(/\s*\]$/, "").split(/\]\s*,?\s*\[/);
      return rows.map(function (r) { return r.replace(/[\[\]]/g, "").split(",").map(function (e) { return e.trim(); }); });
    }
    if (/^\[.*\]$/.test(text)) {
      return text.slice(1, -1).split(";").map(function (r) { return r.split(",").map(function (e) { return e.trim(); }); });
    }
    return null;
  }

  function shapeOf(value) { return [value.length, value[0].length]; }

  function judgeMatrix(raw, want, tol) {
    var rows = readMatrix(raw);
    if (!rows) { return {status: "unreadable", text: "write a matrix as [[1, 2], [3, 4]] or [1, 2; 3, 4]"}; }
    var shape = shapeOf(want), flatWant = [].concat.apply([], want), flat = [].concat.apply([], rows);
    var vector = shape[0] === 1 || shape[1] === 1;
    var fits = vector ? flat.length === flatWant.length : rows.length === shape[0] && rows.every(function (r) { return r.length === shape[1]; });
    if (!fits) {
      var transposed = rows.length === shape[1] && rows.every(function (r) { return r.length === shape[0]; });
      return {status: "unreadable", text: "the answer is " + rows.length + "×" + rows[0].length + "; this step is " +
              shape[0] + "×" + shape[1] + (transposed ? " (transposed?)" : "")};
    }
    var wrong = 0, few = 0;
    for (var i = 0; i < flat.length; i++) {
      var entry = readNumber(flat[i]);
      if (entry.error) { return {status: "unreadable", text: "entry " + (i + 1) + " (" + flat[i] + ") is " + entry.error}; }
      var verdict = judgeNumber(entry, flatWant[i], tol);
      if (verdict === "incorrect") { wrong++; } else if (verdict === "few") { few++; }
    }
    if (wrong) { return {status: "incorrect", text: wrong + " of " + flat.length + " entries are not right"}; }
    if (few) { return {status: "incorrect", text: "too few digits in " + few + " entr" + (few === 1 ? "y" : "ies") + ": give at least " + MIN_SIGNIFICANT + " significant figures"}; }
    return {status: "correct", text: ""};
  }

  function judge(step, raw, tol) {
    if (Array.isArray(step.value)) { return judgeMatrix(raw, step.value, tol); }
    var answer = readNumber(raw);
    if (answer.error) {
      return {status: "unreadable", text: answer.error +
              " (this page reads numbers like 0.25, -3.5e-2 or 3/20; derive check also reads formulas)"};
    }
    var verdict = judgeNumber(answer, step.value, tol);
    if (verdict === "correct") { return {status: "correct", text: ""}; }
    if (verdict === "few") {
      return {status: "incorrect", text: "right to the digits you wrote, but too few digits: give at least " + MIN_SIGNIFICANT + " significant figures"};
    }
    for (var i = 0; i < step.mistakes.length; i++) {  // a known slip, recomputed for this example
      var slip = step.mistakes[i];
      if (matches(answer, slip[0], null) && !matches({value: slip[0], digits: answer.digits, decimals: answer.decimals}, step.value, null)) {
        return {status: "incorrect", text: slip[1]};
      }
    }
    return {status: "incorrect", text: ""};
  }

  function line(box, cls, text) {
    var p = document.createElement("p");
    p.className = cls;
    p.textContent = text;  // text, never markup: nothing typed or stored becomes HTML
    box.appendChild(p);
  }

  var holder = document.getElementById("worksheet-data");
  var data = unscramble(holder.textContent.trim(), holder.getAttribute("data-seed"));
  var state = data.steps.map(function () { return {tries: 0, hints: 0, done: false, credit: false}; });

  function score() {
    var good = state.filter(function (s) { return s.credit; }).length;
    document.getElementById("score").textContent = good + " of " + state.length + " steps right";
  }

  function hint(li, index) {
    var s = state[index], step = data.steps[index], box = li.querySelector(".verdict");
    if (s.hints < step.hints.length) {
      s.hints++;
      var left = box.querySelector(".left");
      line(box, "hint", "Hint " + s.hints + ": " + step.hints[s.hints - 1]);
      if (left) { box.appendChild(left); }  // "try again" stays last
    } else {
      reveal(li, index);
    }
  }

  function hints(box, s, step) {  // the hints asked for so far stay on show, in order
    for (var i = 0; i < s.hints; i++) { line(box, "hint", "Hint " + (i + 1) + ": " + step.hints[i]); }
  }

  function reveal(li, index) {
    var s = state[index], step = data.steps[index], box = li.querySelector(".verdict");
    s.revealed = true;
    s.done = true;
    if (box.querySelector(".reveal")) { return; }
    step.reveal.forEach(function (text) { line(box, "reveal", text); });
    li.querySelector(".hint").disabled = true;
    li.querySelector(".show").disabled = true;
  }

  function check(li, index) {
    var s = state[index], step = data.steps[index], box = li.querySelector(".verdict");
    var raw = li.querySelector(".answer").value;
    if (!raw.trim() || s.credit) { return; }
    var result = judge(step, raw, data.tolerance);
    box.textContent = "";
    li.classList.remove("correct", "incorrect", "unreadable");
    if (result.status === "unreadable") {
      li.classList.add("unreadable");
      line(box, "mark", "? cannot read that");
      line(box, "message", result.text + ". Try again (this does not count as a try).");
      return;
    }
    s.tries++;
    if (result.status === "correct") {
      li.classList.add("correct");
      s.credit = !s.revealed;
      s.done = true;
      line(box, "mark", s.credit ? "✓ correct" : "✓ correct (after the value was shown: no credit)");
      score();
      var next = li.nextElementSibling && li.nextElementSibling.querySelector(".answer");
      if (next) { next.focus(); }
      return;
    }
    li.classList.add("incorrect");
    var left = TRIES - s.tries;
    line(box, "mark", left > 0 ? "✗ not right yet" : "✗ incorrect");
    if (result.text) { line(box, "message", result.text); }
    // as the tutor: the rule after a first undiagnosed miss, the formula with numbers after the second
    if (s.tries === 1 && !result.text) { s.hints = Math.max(s.hints, 1); }
    else if (s.tries >= 2) { s.hints = step.hints.length; }
    hints(box, s, step);
    if (left <= 0 || s.revealed) { reveal(li, index); score(); return; }
    line(box, "left", "Try again (" + left + (left === 1 ? " try" : " tries") + " left; Show gives the value).");
  }

  document.querySelectorAll("li.step").forEach(function (li) {
    var index = Number(li.getAttribute("data-index"));
    li.querySelector(".check").addEventListener("click", function () { check(li, index); });
    li.querySelector(".hint").addEventListener("click", function () { hint(li, index); });
    li.querySelector(".show").addEventListener("click", function () { reveal(li, index); score(); });
    li.querySelector(".answer").addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); check(li, index); }
    });
  });
  document.getElementById("solution-button").addEventListener("click", function () {
    var section = document.getElementById("solution");
    section.innerHTML = data.solution;  // derive's own HTML, user text escaped by its printer
    section.hidden = false;
    this.disabled = true;
    section.scrollIntoView();
  });
  score();
  // the rules, for a reader (and the tests) to try in the console: deriveWorksheet.judge(0, "7")
  window.deriveWorksheet = {judge: function (index, raw) { return judge(data.steps[index], raw, data.tolerance).status; },
                            readNumber: readNumber};
})();
