/* cxd feedback widget: one question, an optional reason, one anonymous post. No
 * dependencies; styles in a shadow root. Usage and options: README, "Widget and HTML form".
 * <script src="https://CXD/widget.js" data-survey=ID data-stage=S data-touchpoint=T async> */
(function () {
  "use strict";
  var me = document.currentScript, d = me && me.dataset;
  if (!d || !d.survey || !d.stage || !d.touchpoint) {
    console.warn("cxd widget: data-survey, data-stage and data-touchpoint are required");
    return;
  }
  var origin = new URL(me.src, location.href).origin;
  var ask = { nps: [0, 10], csat: [1, 5], ces: [1, 7] }[d.question] ? d.question : "nps";
  var range = { nps: [0, 10], csat: [1, 5], ces: [1, 7] }[ask];
  /* [question nps, csat, ces], [low, high] per question, reason, send, skip, thanks,
   * close, error, label */
  var T = {
    en: [["How likely are you to recommend us to a friend or colleague?",
          "How satisfied are you with your experience?", "How easy was it to get what you needed?"],
         [["Not likely", "Very likely"], ["Very dissatisfied", "Very satisfied"],
          ["Very difficult", "Very easy"]],
         "What is the main reason for your score? (optional)", "Send", "Skip",
         "Thank you for your feedback!", "Close", "Sorry, your answer could not be sent. " +
         "Please try again later.", "Feedback"],
    ru: [["Насколько вероятно, что вы порекомендуете нас другу или коллеге?",
          "Насколько вы довольны?", "Насколько легко было получить то, что вам нужно?"],
         [["Маловероятно", "Очень вероятно"], ["Очень недоволен", "Очень доволен"],
          ["Очень сложно", "Очень легко"]],
         "Какова главная причина вашей оценки? (необязательно)", "Отправить", "Пропустить",
         "Спасибо за отзыв!", "Закрыть", "Не удалось отправить ответ. Попробуйте позже.",
         "Отзыв"],
    bg: [["Колко вероятно е да ни препоръчате на приятел или колега?",
          "Колко сте доволни?", "Колко лесно получихте това, от което се нуждаехте?"],
         [["Малко вероятно", "Много вероятно"], ["Много недоволен", "Много доволен"],
          ["Много трудно", "Много лесно"]],
         "Каква е основната причина за оценката ви? (незадължително)", "Изпрати", "Пропусни",
         "Благодарим за отзива!", "Затвори", "Отговорът не беше изпратен. Моля, опитайте " +
         "по-късно.", "Отзив"]
  };
  var lang = String(d.lang || navigator.language || "en").toLowerCase().slice(0, 2);
  if (!T[lang]) lang = "en";
  var t = T[lang], qi = ["nps", "csat", "ces"].indexOf(ask);
  var memo = "cxd-widget:" + d.survey + ":" + d.stage + ":" + d.touchpoint;

  function remembered() {
    try { return sessionStorage.getItem(memo); } catch (e) { return null; }
  }
  function remember(v) {
    try { sessionStorage.setItem(memo, v); } catch (e) { /* private mode: ask again */ }
  }
  if (remembered()) return;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  /* !important: in a shadow tree's :host it beats even the page's !important rules */
  var CSS = ":host{all:initial!important}" +
    ".card{all:initial;display:block;position:fixed;z-index:2147483000;" +
    "box-sizing:border-box;width:min(380px,calc(100vw - 24px));padding:16px;" +
    "background:#fff;color:#1b1b1b;border:1px solid #6b6b6b;border-radius:10px;" +
    "box-shadow:0 6px 24px rgba(0,0,0,.25);" +
    "font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".br{right:12px;bottom:12px}.bl{left:12px;bottom:12px}" +
    ".tr{right:12px;top:12px}.tl{left:12px;top:12px}" +
    "fieldset{border:0;margin:0;padding:0;min-width:0}" +
    "legend,label,p{display:block;margin:0 28px 10px 0;padding:0;font-weight:600}" +
    ".row{display:grid;gap:4px;" +
    "grid-template-columns:repeat(" + (range[1] - range[0] + 1) + ",1fr)}" +
    "button{font:inherit;cursor:pointer;border-radius:6px;min-height:36px;margin:0}" +
    ".s{padding:0;border:1px solid #6b6b6b;background:#f4f4f4;color:#1b1b1b}" +
    ".s:hover{background:#e2e8f6}" +
    ".s[aria-pressed=true]{background:#1a4fc4;color:#fff;border-color:#1a4fc4}" +
    ".ends{display:flex;justify-content:space-between;gap:8px;margin-top:4px;" +
    "font-size:13px;color:#4a4a4a}" +
    "textarea{box-sizing:border-box;width:100%;min-height:72px;padding:6px;" +
    "font:inherit;color:#1b1b1b;border:1px solid #6b6b6b;border-radius:6px;resize:vertical}" +
    ".acts{display:flex;gap:8px;justify-content:flex-end;margin-top:10px}" +
    ".go{background:#1a4fc4;color:#fff;border:1px solid #1a4fc4;padding:0 16px}" +
    ".sk{background:#fff;color:#1a4fc4;border:1px solid #1a4fc4;padding:0 12px}" +
    ".x{position:absolute;top:8px;right:8px;width:32px;min-height:32px;border:0;" +
    "background:none;color:#1b1b1b;font-size:22px;line-height:1}" +
    ".err{color:#a4161a;font-weight:400;margin:10px 0 0}" +
    ":focus-visible{outline:3px solid #1a4fc4;outline-offset:2px}" +
    "textarea:focus-visible{outline-offset:0}";

  var host, card, body, score = null, busy = false;

  function close() {
    remember("dismissed");
    if (host && host.parentNode) host.parentNode.removeChild(host);
  }

  function send(withComment, box, err, buttons) {
    if (busy) return;
    busy = true;
    buttons.forEach(function (b) { b.disabled = true; });
    var r = { stage: d.stage, touchpoint: d.touchpoint };
    /* only when given: an anonymous post may name only a channel the survey lists */
    if (d.channel) r.channel = d.channel;
    if (d.segment) r.segment = d.segment;
    if (d.customer) r.customer = d.customer;
    r[ask] = score;
    if (withComment && box.value.trim()) r.comment = box.value.trim();
    fetch(origin + "/v1/surveys/" + encodeURIComponent(d.survey) + "/responses", {
      method: "POST", mode: "cors", credentials: "omit",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(r)
    }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      remember("answered");
      body.textContent = "";
      var p = el("p", null, t[5]);
      p.tabIndex = -1;
      body.appendChild(p);
      p.focus();
    }).catch(function (e) {
      console.warn("cxd widget: the answer was not sent (" + e.message + ")");
      err.textContent = t[7];
      busy = false;
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  function reason() {
    body.textContent = "";
    var lab = el("label", null, t[2]), box = el("textarea"), err = el("p", "err");
    lab.htmlFor = box.id = "cxd-reason";
    box.maxLength = 2000;
    var acts = el("div", "acts"), skip = el("button", "sk", t[4]), go = el("button", "go", t[3]);
    skip.type = go.type = "button";
    err.setAttribute("role", "alert");
    skip.onclick = function () { send(false, box, err, [skip, go]); };
    go.onclick = function () { send(true, box, err, [skip, go]); };
    acts.appendChild(skip);
    acts.appendChild(go);
    body.appendChild(lab);
    body.appendChild(box);
    body.appendChild(acts);
    body.appendChild(err);
    box.focus();   /* the person just chose a score: the next step is theirs */
  }

  function question() {
    var fs = el("fieldset"), row = el("div", "row"), ends = el("div", "ends");
    fs.appendChild(el("legend", null, t[0][qi]));
    for (var v = range[0]; v <= range[1]; v++) {
      var b = el("button", "s", String(v));
      b.type = "button";
      b.setAttribute("aria-pressed", "false");
      b.onclick = (function (n, btn) {
        return function () {
          score = n;
          btn.setAttribute("aria-pressed", "true");
          reason();
        };
      })(v, b);
      row.appendChild(b);
    }
    ends.appendChild(el("span", null, range[0] + " = " + t[1][qi][0]));
    ends.appendChild(el("span", null, range[1] + " = " + t[1][qi][1]));
    fs.appendChild(row);
    fs.appendChild(ends);
    body.appendChild(fs);
  }

  function show() {
    if (remembered() || !document.body) return;
    host = el("div");
    host.setAttribute("data-cxd-widget", "");
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var style = el("style", null, CSS);
    var pos = { "bottom-left": "bl", "top-right": "tr", "top-left": "tl" }[d.position] || "br";
    card = el("aside", "card " + pos);
    card.setAttribute("aria-label", t[8]);
    card.lang = lang;
    var x = el("button", "x", "\u00d7");
    x.type = "button";
    x.setAttribute("aria-label", t[6]);
    x.onclick = close;
    card.onkeydown = function (e) { if (e.key === "Escape") close(); };
    body = el("div");
    card.appendChild(body);
    card.appendChild(x);
    root.appendChild(style);
    root.appendChild(card);
    question();
    document.body.appendChild(host);
  }

  var delay = Math.min(Math.max(parseInt(d.delay, 10) || 0, 0), 600000);
  function start() { setTimeout(show, delay); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
