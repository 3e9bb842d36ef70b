/* SMEFlow web chat client: one WebSocket, a signed visitor token kept in localStorage, the last
   message seen sent on reconnect so nothing is missed on a weak network. No framework. */
(function () {
  "use strict";
  var slug = document.body.getAttribute("data-tenant");
  var key = "smeflow-chat:" + slug;
  var log = document.getElementById("log");
  var form = document.getElementById("f");
  var input = document.getElementById("t");
  var state = {};
  try { state = JSON.parse(localStorage.getItem(key) || "{}"); } catch (e) { state = {}; }
  var ws = null, pending = [], wait = 1000, counter = 0;

  function save() { try { localStorage.setItem(key, JSON.stringify(state)); } catch (e) {} }
  function show(cls, text) {
    var li = document.createElement("li");
    li.className = cls;
    li.textContent = text;
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }
  function url() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var q = [];
    if (state.token) q.push("token=" + encodeURIComponent(state.token));
    if (state.last) q.push("after=" + encodeURIComponent(state.last));
    return proto + "//" + location.host + location.pathname.replace(/\/$/, "") + "/ws" + (q.length ? "?" + q.join("&") : "");
  }
  function connect() {
    ws = new WebSocket(url());
    ws.onopen = function () { wait = 1000; while (pending.length) ws.send(pending.shift()); };
    ws.onmessage = function (e) {
      var m = JSON.parse(e.data);
      if (m.type === "hello") { state.token = m.token; save(); }
      else if (m.type === "message") {
        show(m.direction === "in" ? "in" : "out", m.text || "");
        state.last = m.id; save();
      } else if (m.type === "ack") { state.last = m.message_id || state.last; save(); }
      else if (m.type === "error") { show("note", m.message); }
    };
    ws.onclose = function () { setTimeout(connect, wait); wait = Math.min(wait * 2, 30000); };
  }
  form.onsubmit = function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    show("in", text);
    var frame = JSON.stringify({ type: "message", id: Date.now().toString(36) + "-" + (counter++), text: text });
    if (ws && ws.readyState === 1) ws.send(frame); else pending.push(frame);
  };
  connect();
})();
