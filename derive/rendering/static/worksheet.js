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
      if (transposed && judgeMatrix(JSON.stringify(rows[0].map(function (_, j) {
            return rows.map(function (r) { return r[j]; }); })).replace(/"/g, ""), want, tol).status === "correct") {
        return {status: "incorrect", text: "transposed matrix: the answer is this step's value transposed; it is " +
                shape[0] + "×" + shape[1] + ", the shape of its variable (out × in for a weight)"};
      }
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

  /* Carried forward, as derive check does it: a step recomputed by derive's own local rules
     (data.rules: per meaning a line, a local derivative, a sum over children, an update) from
     the student's other answers, each standing for every number that rounds to it. */
  var FUNCTIONS = {
    exp: Math.exp, log: Math.log, tanh: Math.tanh, sin: Math.sin, cos: Math.cos, Abs: Math.abs,
    sign: Math.sign, IdentityActivation: function (z) { return z; },
    Relu: function (z) { return z > 0 ? z : 0; },
    LeakyRelu: function (z, a) { return z > 0 ? z : a * z; },
    Sigmoid: function (z) { return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)); },
    Softplus: function (z) { return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)); },
    Elu: function (z, a) { return z > 0 ? z : a * Math.expm1(z); },
    Silu: function (z) { return z * FUNCTIONS.Sigmoid(z); },
    Indicator: function (c) { return c ? 1 : 0; },
    Maximum: Math.max, Minimum: Math.min, Max: Math.max, Min: Math.min,
    LogSumExp: function () {
      var xs = [].slice.call(arguments), m = Math.max.apply(null, xs);
      return m + Math.log(xs.reduce(function (t, x) { return t + Math.exp(x - m); }, 0));
    }
  };
  var OPS = {
    "+": function (a) { return a.reduce(function (t, x) { return t + x; }, 0); },
    "*": function (a) { return a.reduce(function (t, x) { return t * x; }, 1); },
    "^": function (a) { return Math.pow(a[0], a[1]); },
    ">": function (a) { return a[0] > a[1] ? 1 : 0; }, "<": function (a) { return a[0] < a[1] ? 1 : 0; },
    ">=": function (a) { return a[0] >= a[1] ? 1 : 0; }, "<=": function (a) { return a[0] <= a[1] ? 1 : 0; },
    "==": function (a) { return a[0] === a[1] ? 1 : 0; }, "!=": function (a) { return a[0] !== a[1] ? 1 : 0; },
    and: function (a) { return a.every(Boolean) ? 1 : 0; }, or: function (a) { return a.some(Boolean) ? 1 : 0; }
  };

  function evaluate(tree, v) {
    if (typeof tree === "number") { return tree; }
    if (tree[0] === "v") { return v(tree[1]); }
    var args = tree.slice(tree[0] === "f" ? 2 : 1).map(function (t) { return evaluate(t, v); });
    return tree[0] === "f" ? FUNCTIONS[tree[1]].apply(null, args) : OPS[tree[0]](args);
  }

  /* The step recomputed from `given` (meaning -> {value, radius}): {value, lo, hi, used}, or
     null when a rule is missing or the numbers leave the math undefined. */
  function carried(index, given) {
    var step = data.steps[index], rules = data.rules || {}, own = step.meanings[0];
    if (Array.isArray(step.value) || !(own in rules)) { return null; }
    var top = {}, used = {};
    step.meanings.forEach(function (m) { top[m] = true; });  // never the answer being judged
    function run(shift) {
      var memo = {};
      function v(id) {
        if (id in memo) { return memo[id]; }
        var out;
        if (!top[id] && given[id]) {
          used[id] = true;
          out = given[id].value + (shift && shift.id === id ? shift.by : 0);
        } else if (id in rules) {
          out = evaluate(rules[id], v);
        } else {
          throw new Error("no rule for " + id);
        }
        memo[id] = out;
        return out;
      }
      return v(own);
    }
    var value;
    try { value = run(null); } catch (e) { return null; }
    if (!isFinite(value)) { return null; }
    var spread = 0;  // each answer stands for the numbers that round to it: the range they give
    Object.keys(used).forEach(function (id) {
      var r = given[id].radius;
      if (!r) { return; }
      var up = run({id: id, by: r}), down = run({id: id, by: -r});
      spread += Math.max(Math.abs(up - value), Math.abs(down - value));
    });
    if (!isFinite(spread)) { return null; }
    return {value: value, lo: value - spread, hi: value + spread, used: Object.keys(used)};
  }

  function consistent(answer, range, tol) {
    var given = answer.value, slack;
    if (tol) {
      slack = (tol.atol || 0) + (tol.rtol || 0) * Math.max(Math.abs(range.lo), Math.abs(range.hi));
    } else {
      slack = answer.digits === null ? 0 : halfUnit(answer);
      if (answer.rtol) { slack = Math.max(slack, Math.abs(given) * answer.rtol); }
    }
    slack = slack * (1 + 1e-9) + 1e-12 * Math.max(1, Math.abs(range.value));
    return range.lo - slack <= given && given <= range.hi + slack;
  }

  /* The other steps' answers as typed now: meaning -> {value, radius, right, key}. */
  function givenAnswers(except) {
    var given = {};
    Array.prototype.forEach.call(document.querySelectorAll("li.step"), function (li) {
      var i = Number(li.getAttribute("data-index")), step = data.steps[i];
      if (i === except || Array.isArray(step.value)) { return; }
      var answer = readNumber(li.querySelector(".answer").value);
      if (answer.error) { return; }
      var exactly = matches({value: answer.value, digits: null}, step.value, null);
      var radius = exactly || answer.digits === null ? 0 : halfUnit(answer);
      if (!exactly && answer.rtol) { radius = Math.max(radius, Math.abs(answer.value) * answer.rtol); }
      var entry = {value: exactly ? step.value : answer.value, radius: radius,
                   right: judgeNumber(answer, step.value, data.tolerance) === "correct",
                   key: li.querySelector(".answer").getAttribute("data-key")};
      step.meanings.forEach(function (m, n) { if (n === 0 || !given[m]) { given[m] = entry; } });
    });
    return given;
  }

  function carriedVerdict(step, answer, tol, index) {
    var given = givenAnswers(index), range = carried(index, given);
    if (!range || !consistent(answer, range, tol)) { return null; }
    var inherited = range.used.filter(function (id) { return !given[id].right; })
      .map(function (id) { return given[id].key; })
      .filter(function (k, n, all) { return all.indexOf(k) === n; });
    return {status: "carried", text: "right given " + (inherited.length ? "your " + inherited.join(", ") +
            ", which this step inherits" : "your earlier answers as written (carry more digits)") +
            " (with exact earlier values it would be ≈ " + Number(step.value.toPrecision(4)) + ")"};
  }

  function judge(step, raw, tol, index) {
    if (Array.isArray(step.value)) { return judgeMatrix(raw, step.value, tol); }
    var answer = readNumber(raw);
    if (answer.error) {
      return {status: "unreadable", text: answer.error +
              " (this page reads numbers only, like 0.25, -3.5e-2 or 3/20: work a formula out first)"};
    }
    var verdict = judgeNumber(answer, step.value, tol);
    if (verdict === "correct") { return {status: "correct", text: ""}; }
    if (verdict === "few") {
      return {status: "incorrect", text: "right to the digits you wrote, but too few digits: give at least " + MIN_SIGNIFICANT + " significant figures"};
    }
    var carry = index === undefined ? null : carriedVerdict(step, answer, tol, index);
    if (carry) { return carry; }
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
    box.textContent = "";
    li.classList.remove("correct", "carried", "incorrect", "unreadable");
    if (!raw.trim()) {
      li.classList.add("unreadable");
      line(box, "mark", "? type a number first");
      return;
    }
    var result = judge(step, raw, data.tolerance, index);
    if (result.status === "unreadable") {
      li.classList.add("unreadable");
      line(box, "mark", "? cannot read that");
      line(box, "message", result.text + ". Try again (this does not count as a try).");
      return;
    }
    s.tries++;
    if (result.status === "correct" || result.status === "carried") {
      li.classList.add(result.status);
      s.credit = !s.revealed;
      s.done = true;
      line(box, "mark", (result.status === "correct" ? "✓ correct" : "✓ carried forward") +
           (s.credit ? "" : " (after the value was shown: no credit)"));
      if (result.text) { line(box, "message", result.text); }
      score();
      var next = li.nextElementSibling && li.nextElementSibling.querySelector(".answer");
      if (next) { next.focus(); }
      return;
    }
    li.classList.add("incorrect");
    s.credit = false;
    score();
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

  /* A changed answer is no longer checked: its verdict and credit go until it is checked again. */
  function changed(li, index) {
    var s = state[index], box = li.querySelector(".verdict");
    if (!li.matches(".correct, .carried, .incorrect, .unreadable")) { return; }
    li.classList.remove("correct", "carried", "incorrect", "unreadable");
    box.textContent = "";
    s.credit = false;
    s.done = !!s.revealed;
    hints(box, s, data.steps[index]);
    if (s.revealed) { data.steps[index].reveal.forEach(function (text) { line(box, "reveal", text); }); }
    score();
  }

  document.querySelectorAll("li.step").forEach(function (li) {
    var index = Number(li.getAttribute("data-index"));
    li.querySelector(".check").addEventListener("click", function () { check(li, index); });
    li.querySelector(".hint").addEventListener("click", function () { hint(li, index); });
    li.querySelector(".show").addEventListener("click", function () { reveal(li, index); score(); });
    li.querySelector(".answer").addEventListener("input", function () { changed(li, index); });
    li.querySelector(".answer").addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); check(li, index); }
    });
  });
  document.getElementById("solution-button").addEventListener("click", function () {
    var section = document.getElementById("solution");
    section.innerHTML = data.solution;  // derive's own HTML, user text escaped by its printer
    section.hidden = false;
    this.disabled = true;
    state.forEach(function (s) { s.revealed = true; s.credit = false; });  // shown: no credit from now on
    score();
    section.scrollIntoView();
  });
  score();
  // the rules, for a reader (and the tests) to try in the console: deriveWorksheet.judge(0, "7")
  window.deriveWorksheet = {judge: function (index, raw) { return judge(data.steps[index], raw, data.tolerance, index).status; },
                            readNumber: readNumber};
})();
