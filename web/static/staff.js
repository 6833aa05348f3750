/* Staff console: sign-in, live urgent offers (SSE with polling as the safety net), order actions. */
(function () {
  "use strict";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function toast(text) {
    var t = $("#toast"); if (!t) return;
    t.textContent = text; t.hidden = false;
    setTimeout(function () { t.hidden = true; }, 3000);
  }
  function api(method, url, body) {
    var h = { "Accept": "application/json" };
    if (body !== undefined) h["Content-Type"] = "application/json";
    return fetch(url, { method: method, headers: h, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body) }).then(function (r) {
      return r.text().then(function (t) {
        var data = null; try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (!r.ok) { var err = new Error((data && data.detail) || ("请求失败（" + r.status + "）")); err.status = r.status; throw err; }
        return data;
      });
    });
  }
  function hm(iso) { var d = new Date(iso); return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2); }

  var Staff = {};
  Staff.bindLogin = function () {
    var form = $("#login");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var err = $("#error"); err.hidden = true;
      api("POST", "/api/auth/login", { username: form.username.value, password: form.password.value })
        .then(function () { location.reload(); })
        .catch(function (e) { err.textContent = e.status === 401 ? "用户名或密码错误" : "登录失败：" + e.message; err.hidden = false; });
    });
  };

  var known = {};
  function renderOffers(list) {
    var ul = $("#offers"); ul.innerHTML = "";
    if (!list.length) { ul.innerHTML = '<li class="empty">暂无待抢的急送订单</li>'; return; }
    var fresh = false;
    list.forEach(function (o) {
      if (!known[o.offer_id]) { known[o.offer_id] = true; fresh = true; }
      var li = document.createElement("li"); li.className = "offer"; li.setAttribute("data-offer", o.offer_id);
      li.setAttribute("data-deadline", Date.now() + o.seconds_to_deadline * 1000);
      var d1 = document.createElement("div"); d1.innerHTML = "<b></b> 急送 · 距离 <span></span> 米";
      d1.querySelector("b").textContent = "#" + o.number; d1.querySelector("span").textContent = o.distance_m;
      var d2 = document.createElement("div"); d2.className = "muted";
      d2.textContent = "承诺 " + hm(o.promise_at) + " 送达 · 剩 ";
      var left = document.createElement("b"); left.className = "left"; d2.appendChild(left); d2.appendChild(document.createTextNode(" 秒可抢"));
      var act = document.createElement("div"); act.className = "actions";
      act.innerHTML = '<button class="claim primary">抢单</button><button class="decline">拒绝</button>';
      li.appendChild(d1); li.appendChild(d2); li.appendChild(act); ul.appendChild(li);
    });
    tick();
    if (fresh) { document.title = "【新急送单】门店工作台"; toast("有新的急送订单"); }
  }
  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll("#offers [data-deadline]"), function (li) {
      var s = Math.max(0, Math.round((parseInt(li.getAttribute("data-deadline"), 10) - Date.now()) / 1000));
      $(".left", li).textContent = s;
    });
  }
  function loadOffers() {
    return api("GET", "/api/staff/offers").then(renderOffers).catch(function (e) { $("#live").textContent = "（连接异常：" + e.message + "）"; });
  }

  Staff.bindLogout = function () {
    var b = $("#logout"); if (!b) return;
    b.addEventListener("click", function () { api("POST", "/api/auth/logout", {}).then(function () { location.reload(); }); });
  };
  Staff.bindConsole = function () {
    loadOffers();
    setInterval(tick, 1000);
    setInterval(loadOffers, 5000);  // the safety net when the stream is down
    if (window.EventSource) {
      var es = new EventSource("/api/staff/offers/stream");
      es.onopen = function () { $("#live").textContent = "（实时）"; };
      es.onmessage = function () { loadOffers(); };
      ["offer", "new_offer", "urgent_offer", "claimed", "offer_declined", "offer_expired", "withdrawn", "stage", "delivered"]
        .forEach(function (k) { es.addEventListener(k, function () { loadOffers(); }); });
      es.onerror = function () { $("#live").textContent = "（轮询中）"; };
    }
    Staff.bindLogout();
    $("#offers").addEventListener("click", function (ev) {
      var btn = ev.target.closest("button"); if (!btn) return;
      var li = btn.closest("[data-offer]"), id = li.getAttribute("data-offer");
      btn.disabled = true;
      var req = btn.classList.contains("claim")
        ? api("POST", "/api/staff/offers/" + id + "/claim").then(function () { toast("抢单成功"); setTimeout(function () { location.href = "/staff?stage=active"; }, 600); })
        : api("POST", "/api/staff/offers/" + id + "/decline", { reason: prompt("拒绝原因", "人手不足") || "" }).then(function () { toast("已拒绝"); li.remove(); });
      req.catch(function (e) { toast("操作失败：" + e.message); loadOffers(); }).then(function () { btn.disabled = false; });
    });
    $("#board").addEventListener("click", function (ev) {
      var btn = ev.target.closest("button"); if (!btn) return;
      var li = btn.closest("[data-id]"), id = li.getAttribute("data-id");
      var code = $("input.code", li), req;
      if (btn.hasAttribute("data-stage")) req = api("POST", "/api/staff/dispatches/" + id + "/stage", { stage: btn.getAttribute("data-stage") });
      else if (btn.hasAttribute("data-deliver")) req = api("POST", "/api/staff/dispatches/" + id + "/deliver", { handoff_code: code ? code.value : "" });
      else {
        var to = btn.getAttribute("data-to"), body = { to: to };
        if (to === "picked_up" || to === "delivered") body.handoff_code = code ? code.value : "";
        if (to === "cancelled") body.reason = prompt("取消原因", "门店缺货") || "";
        req = api("POST", "/api/staff/orders/" + id + "/transition", body);
      }
      btn.disabled = true;
      req.then(function () { toast("已更新"); setTimeout(function () { location.reload(); }, 500); })
        .catch(function (e) { toast("操作失败：" + e.message); btn.disabled = false; });
    });
  };
  window.Staff = Staff;
})();
