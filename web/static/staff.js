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
        if (!r.ok) { var err = new Error(plain(r.status, data && data.detail)); err.status = r.status; err.detail = data && data.detail; throw err; }
        return data;
      });
    });
  }
  // People read the error: a Chinese sentence for the kind of failure, then the server's detail (which names the
  // field or the rule) when it is not already Chinese.
  var KINDS = { 400: "填写有误", 401: "登录已过期，请重新登录", 403: "没有权限", 404: "找不到该记录", 409: "状态已变化，请刷新后再试",
                413: "内容太大", 422: "无法办理", 429: "操作太频繁，请稍后再试" };
  function plain(status, detail) {
    var kind = KINDS[status] || (status >= 500 ? "服务暂时不可用，请稍后再试" : "请求失败（" + status + "）");
    if (!detail) return kind;
    return /[\u4e00-\u9fff]/.test(detail) ? detail : kind + "：" + detail;
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
  var shown = null;  // the offer ids on screen: the list is rebuilt only when they change
  function renderOffers(list) {
    var ul = $("#offers");
    var ids = list.map(function (o) { return o.offer_id; }).join(",");
    if (ids === shown) {
      // The same offers (a poll or another store's event): refresh the countdowns only, so a button under
      // the clerk's finger is never swapped for a new one mid-click.
      list.forEach(function (o) {
        var li = ul.querySelector('[data-offer="' + o.offer_id + '"]');
        if (li) li.setAttribute("data-deadline", Date.now() + o.seconds_to_deadline * 1000);
      });
      tick();
      return;
    }
    shown = ids;
    ul.innerHTML = "";
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
    if (fresh) { document.title = "【新急送单】门店工作台"; toast("有新的急送订单"); alertNew(); }
  }
  // A new offer: a short beep (WebAudio; browsers allow it after the first click on the page) and a flash.
  var audio = null;
  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext; if (!Ctx) return;
      audio = audio || new Ctx();
      if (audio.state === "suspended") audio.resume();
      [0, 0.3].forEach(function (at) {
        var o = audio.createOscillator(), g = audio.createGain();
        o.type = "sine"; o.frequency.value = 880; g.gain.value = 0.2;
        o.connect(g); g.connect(audio.destination);
        o.start(audio.currentTime + at); o.stop(audio.currentTime + at + 0.18);
      });
    } catch (e) { /* no sound: the flash and the title still tell */ }
  }
  function alertNew() {
    beep();
    var ul = $("#offers"); ul.classList.remove("flash"); void ul.offsetWidth; ul.classList.add("flash");
    document.body.setAttribute("data-new-offer", String(Date.now()));
  }
  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll("#offers [data-deadline]"), function (li) {
      var s = Math.max(0, Math.round((parseInt(li.getAttribute("data-deadline"), 10) - Date.now()) / 1000));
      $(".left", li).textContent = s;
    });
    Array.prototype.forEach.call(document.querySelectorAll("#board .countdown[data-promise]"), function (b) {
      var s = Math.round((new Date(b.getAttribute("data-promise")).getTime() - Date.now()) / 1000);
      b.textContent = s >= 0 ? Math.floor(s / 60) + " 分 " + ("0" + (s % 60)).slice(-2) + " 秒" : "已超时 " + Math.floor(-s / 60) + " 分";
      b.classList.toggle("error", s < 600);
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
    tick();
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
    // The board itself: a new pickup/delivery order (or one moved on elsewhere) shows a refresh bar.
    var board = $("#board");
    setInterval(function () {
      var stage = board.getAttribute("data-stage"), shown = parseInt(board.getAttribute("data-total"), 10);
      api("GET", "/api/staff/orders?stage=" + stage + "&page_size=1").then(function (pg) {
        if (!pg || pg.total === shown) return;
        var bar = $("#board-update");
        if (bar.hidden && stage === "new" && pg.total > shown) beep();
        bar.hidden = false;
      }).catch(function () { /* the next round tries again */ });
    }, 15000);
    var snd = $("#sound");
    if (snd) snd.addEventListener("click", function () { beep(); snd.textContent = "提示音已开启"; snd.disabled = true; });
    var busy = $("#busy");
    if (busy) busy.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button.busy-toggle"); if (!btn) return;
      var row = btn.closest("[data-store]"), to = btn.getAttribute("data-to") === "1";
      btn.disabled = true;
      api("POST", "/api/staff/stores/" + row.getAttribute("data-store") + "/urgent-busy",
          to ? { busy: true, minutes: 30, reason: "门店忙碌" } : { busy: false })
        .then(function () { toast(to ? "已暂停急送接单" : "已恢复急送接单"); setTimeout(function () { location.reload(); }, 400); })
        .catch(function (e) { toast("操作失败：" + e.message); btn.disabled = false; });
    });
    $("#offers").addEventListener("click", function (ev) {
      var btn = ev.target.closest("button"); if (!btn || btn.disabled) return;
      var li = btn.closest("[data-offer]"), id = li.getAttribute("data-offer");
      btn.disabled = true;
      var req = btn.classList.contains("claim")
        ? api("POST", "/api/staff/offers/" + id + "/claim").then(function () { toast("抢单成功"); setTimeout(function () { location.href = "/staff?stage=active"; }, 600); })
        : api("POST", "/api/staff/offers/" + id + "/decline", { reason: prompt("拒绝原因", "人手不足") || "" }).then(function () { toast("已拒绝"); li.remove(); shown = null; loadOffers(); });
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
  Staff.bindStock = function () {
    Staff.bindLogout();
    var table = $("#stock"); if (!table) return;
    table.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button.do-adjust"); if (!btn) return;
      var tr = btn.closest("[data-sku]"), msg = $(".msg", tr);
      var delta = parseInt($(".delta", tr).value, 10), reason = $(".reason", tr).value.trim();
      msg.className = "msg error";
      if (!delta) { msg.textContent = "请填写调整数量（正数加、负数减）"; return; }
      if (!reason) { msg.textContent = "请填写调整原因"; return; }
      btn.disabled = true;
      api("POST", "/api/admin/stores/" + table.getAttribute("data-store") + "/stock/" + tr.getAttribute("data-sku") + "/adjustments",
          { delta: delta, reason: reason })
        .then(function (l) {
          $(".on-hand", tr).textContent = l.on_hand; $(".available", tr).textContent = l.available;
          $(".delta", tr).value = ""; $(".reason", tr).value = "";
          msg.className = "msg status"; msg.textContent = "已调整";
        })
        .catch(function (e) { msg.textContent = "调整失败：" + e.message; })
        .then(function () { btn.disabled = false; });
    });
  };
  function maskPhone(p) { p = String(p || ""); return p.length >= 7 ? p.slice(0, 3) + "****" + p.slice(-4) : p ? "****" : ""; }
  Staff.maskPhone = maskPhone;
  function yuan(fen) { return "¥" + (fen / 100).toFixed(2); }
  Staff.bindMember = function () {
    Staff.bindLogout();
    var form = $("#member"); if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var err = $("#member-error"), out = $("#member-result");
      err.hidden = true; out.hidden = true;
      if (!form.store) { err.textContent = "你的账号还没有分配门店，不能核验会员。"; err.hidden = false; return; }
      var url = form.getAttribute("data-api").replace("{store_id}", encodeURIComponent(form.store.value));
      api("POST", url, { code: form.token.value.trim() })
        .then(function (m) {
          m = m || {};
          var parts = ["会员 " + (m.card_no || ""), m.nickname || "", maskPhone(m.phone), m.level_name || ""];
          if (m.discount_pct) parts.push("商品 " + ((100 - m.discount_pct) / 10) + " 折");
          if (m.points !== undefined) parts.push("积分 " + m.points);
          if (m.balance_fen !== undefined) parts.push("储值 " + yuan(m.balance_fen));
          out.textContent = parts.filter(Boolean).join(" · ");
          out.hidden = false; form.token.value = "";
        })
        .catch(function (e) {
          // No such route (the members domain is not installed): Litestar's bare "Not Found" / 405.
          var absent = e.status === 405 || (e.status === 404 && (!e.detail || e.detail === "Not Found"));
          err.textContent = absent ? "会员功能未启用" : "核验失败：" + e.message;
          err.hidden = false;
        });
    });
  };
  function reloadSoon() { setTimeout(function () { location.reload(); }, 400); }
  Staff.bindFinance = function () {
    Staff.bindLogout();
    var rec = $("#reconcile");
    // The result of a reconciliation run just finished stays on screen after the page reloads with its figures.
    var shownMsg = $("#reconcile-msg"), kept = null;
    try { kept = JSON.parse(sessionStorage.getItem("o2o.reconcile") || "null"); sessionStorage.removeItem("o2o.reconcile"); } catch (e) { kept = null; }
    if (kept && shownMsg) { shownMsg.hidden = false; shownMsg.className = kept.cls; shownMsg.textContent = kept.text; }
    if (rec) rec.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var day = rec.day.value, msg = $("#reconcile-msg"), btn = $("button", rec), since = 0;
      msg.hidden = false; msg.className = "muted"; msg.textContent = "正在对账 " + day + " …"; btn.disabled = true;
      var runsUrl = "/api/finance/reconciliation?start=" + day + "&end=" + day;
      api("GET", runsUrl).then(function (before) {
        (before || []).forEach(function (r) { since = Math.max(since, r.id); });
        return api("POST", "/api/finance/reconciliation", { day: day });
      }).then(function () {
        var tries = 0;
        (function wait() {
          api("GET", runsUrl).then(function (runs) {
            var done = (runs || []).filter(function (r) { return r.finished_at && r.id > since; });
            if (done.length) {
              var r = done[0];
              msg.className = r.status === "done" && !r.mismatches ? "ok" : "error";
              msg.textContent = "对账完成：" + r.bill_rows + " 笔账单，" + r.mismatches + " 条差异";
              try { sessionStorage.setItem("o2o.reconcile", JSON.stringify({ cls: msg.className, text: msg.textContent })); } catch (e) { /* shown until the reload only */ }
              reloadSoon();
            } else if (++tries > 90) {
              msg.className = "error"; msg.textContent = "对账仍在进行，请稍后刷新页面查看"; btn.disabled = false;
            } else { setTimeout(wait, 1000); }
          }).catch(function (e) { msg.className = "error"; msg.textContent = "查询失败：" + e.message; btn.disabled = false; });
        })();
      }).catch(function (e) { msg.className = "error"; msg.textContent = "无法开始对账：" + e.message; btn.disabled = false; });
    });
    var list = $("#mismatches");
    if (list) list.addEventListener("submit", function (ev) {
      var form = ev.target.closest("form.resolve"); if (!form) return;
      ev.preventDefault();
      var li = form.closest("[data-mismatch]"), note = form.note.value.trim(), m = $(".msg", form);
      if (!note) { m.textContent = "请写明查明的原因与处理方式"; return; }
      api("POST", "/api/finance/mismatches/" + li.getAttribute("data-mismatch") + "/resolve", { note: note })
        .then(function () { toast("已标记为已处理"); reloadSoon(); })
        .catch(function (e) { m.textContent = "保存失败：" + e.message; });
    });
    var st = $("#statement");
    if (st) st.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var m = $(".msg", st);
      if (!st.store_id.value) { m.textContent = "请选择门店"; return; }
      api("POST", "/api/finance/settlements", { store_id: parseInt(st.store_id.value, 10),
        period_start: st.period_start.value, period_end: st.period_end.value })
        .then(function () { toast("结算单已生成"); reloadSoon(); })
        .catch(function (e) { m.textContent = "生成失败：" + e.message; });
    });
    on($("#refunds"), "click", "button.refund-retry", function (b) {
      var id = b.closest("[data-refund]").getAttribute("data-refund");
      b.disabled = true;
      api("POST", "/api/finance/refunds/" + id + "/retry").then(function () { toast("已重新发起退款"); reloadSoon(); })
        .catch(function (e) { toast("操作失败：" + e.message); b.disabled = false; });
    });
    var sts = $("#statements");
    if (sts) sts.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button"); if (!btn) return;
      var id = btn.closest("[data-statement]").getAttribute("data-statement"), req;
      if (btn.classList.contains("st-confirm")) req = api("POST", "/api/finance/settlements/" + id + "/confirm");
      else {
        var ref = prompt("付款流水号", ""); if (!ref) return;
        req = api("POST", "/api/finance/settlements/" + id + "/pay", { payout_ref: ref });
      }
      req.then(reloadSoon).catch(function (e) { toast("操作失败：" + e.message); });
    });
  };
  // Yuan typed by a person → integer fen, exactly (no floating point): "12", "12.5", "12.50".
  function toFen(text) {
    var m = /^\s*(\d{1,7})(?:\.(\d{1,2}))?\s*$/.exec(text || "");
    if (!m) return null;
    return parseInt(m[1], 10) * 100 + parseInt(((m[2] || "") + "00").slice(0, 2), 10);
  }
  Staff.toFen = toFen;
  function on(root, type, sel, fn) {
    if (!root) return;
    root.addEventListener(type, function (ev) {
      var t = ev.target.closest(sel); if (!t || !root.contains(t)) return;
      if (type === "submit") ev.preventDefault();
      fn(t, ev);
    });
  }
  function fail(node) { return function (e) { if (node) { node.className = "msg error"; node.textContent = e.message; } else toast("操作失败：" + e.message); }; }
  // A read-only table of whatever list an admin API returns (a list, or a page with items).
  function apiTable(box) {
    api("GET", box.getAttribute("data-src")).then(function (data) {
      var rows = Array.isArray(data) ? data : (data && data.items) || [];
      box.innerHTML = "";
      if (!rows.length) { box.appendChild(Object.assign(document.createElement("p"), { className: "empty", textContent: "暂无记录" })); return; }
      var keys = Object.keys(rows[0]).slice(0, 10), table = document.createElement("table"), tr = document.createElement("tr");
      table.className = "grid";
      keys.forEach(function (k) { tr.appendChild(Object.assign(document.createElement("th"), { textContent: k })); });
      table.appendChild(tr);
      rows.forEach(function (r) {
        var row = document.createElement("tr");
        keys.forEach(function (k) {
          var v = r[k];
          var shown = v === null || v === undefined ? "" : /_fen$/.test(k) && typeof v === "number" ? yuan(v)
            : typeof v === "object" ? JSON.stringify(v) : String(v);
          row.appendChild(Object.assign(document.createElement("td"), { textContent: shown }));
        });
        table.appendChild(row);
      });
      box.appendChild(table);
    }).catch(function (e) { box.innerHTML = ""; box.appendChild(Object.assign(document.createElement("p"), { className: "error", textContent: e.status === 404 ? "即将上线" : e.message })); });
  }
  Staff.bindAdmin = function () {
    Staff.bindLogout();
    Array.prototype.forEach.call(document.querySelectorAll(".api-table[data-src]"), apiTable);
    on($("#stores"), "submit", "form.hours", function (f) {
      var id = f.closest("[data-store]").getAttribute("data-store"), weekly = [], m = $(".msg", f);
      for (var d = 0; d < 7; d++) {
        var o = f["opens" + d].value.trim(), c = f["closes" + d].value.trim();
        if (!o && !c) continue;
        if (!o || !c) { m.textContent = "每天的开门和关门时间要一起填（或都留空表示休息）"; return; }
        weekly.push({ weekday: d, opens: o, closes: c });
      }
      api("PUT", "/api/admin/stores/" + id + "/hours", { weekly: weekly }).then(reloadSoon).catch(fail($(".msg", f)));
    });
    on($("#inbox"), "submit", "form.reply", function (f) {
      var id = f.closest("[data-message]").getAttribute("data-message"), m = $(".msg", f);
      if (!f.content.value.trim()) { m.textContent = "请填写回复内容"; return; }
      api("POST", "/api/engage/inbox/" + id + "/reply", { content: f.content.value.trim() })
        .then(function () { toast("已回复"); reloadSoon(); }).catch(fail(m));
    });
    on($("#inbox"), "click", "button.close-msg", function (b) {
      var id = b.closest("[data-message]").getAttribute("data-message");
      api("POST", "/api/engage/inbox/" + id + "/close").then(reloadSoon).catch(fail(null));
    });
    on($("#catalogue"), "submit", "form.price", function (f) {
      var id = f.closest("[data-sku]").getAttribute("data-sku"), m = $(".msg", f), fen = toFen(f.price.value);
      if (fen === null || fen <= 0) { m.className = "msg error"; m.textContent = "价格写成 12.50 这样的元"; return; }
      api("PATCH", "/api/admin/catalogue/skus/" + id, { base_price_fen: fen })
        .then(function () { m.className = "msg status"; m.textContent = "已改价"; }).catch(fail(m));
    });
    on($("#catalogue"), "submit", "form.listing", function (f) {
      var id = f.closest("[data-sku]").getAttribute("data-sku"), m = $(".msg", f), typed = f.price.value.trim();
      var fen = typed ? toFen(typed) : null;
      if (typed && (fen === null || fen <= 0)) { m.className = "msg error"; m.textContent = "价格写成 12.50 这样的元，留空用基础价"; return; }
      api("PUT", "/api/admin/stores/" + $("#catalogue").getAttribute("data-store") + "/listings/" + id,
          { price_fen: fen, listed: f.listed.checked })
        .then(function () { m.className = "msg status"; m.textContent = "已保存"; }).catch(fail(m));
    });
    on(document.body, "submit", "#rule-add", function (f) {
      var m = $(".msg", f);
      api("POST", "/api/engage/rules", { name: f.pattern.value.trim(), match_type: f.match_type.value, pattern: f.pattern.value.trim(),
        priority: parseInt(f.priority.value, 10) || 0, reply_type: "text", reply: { content: f.reply.value.trim() } })
        .then(reloadSoon).catch(fail(m));
    });
    on($("#rules"), "click", "button", function (b) {
      var tr = b.closest("[data-rule]"), id = tr.getAttribute("data-rule");
      var req = b.classList.contains("rule-delete")
        ? (confirm("删除这条规则？") ? api("DELETE", "/api/engage/rules/" + id) : null)
        : api("PATCH", "/api/engage/rules/" + id, { active: tr.getAttribute("data-active") !== "1" });
      if (req) req.then(reloadSoon).catch(fail(null));
    });
    var menu = $("#menu-form");
    if (menu) {
      var m = $(".msg", menu);
      var parsed = function () {
        try { return JSON.parse(menu.menu.value); } catch (e) { m.textContent = "菜单不是有效的 JSON：" + e.message; return null; }
      };
      $("#menu-save").addEventListener("click", function () {
        var body = parsed(); if (!body) return;
        api("PUT", "/api/engage/menu", body).then(function () { toast("已保存草稿"); reloadSoon(); }).catch(fail(m));
      });
      $("#menu-publish").addEventListener("click", function () {
        var body = parsed(); if (!body) return;
        api("POST", "/api/engage/menu/publish", body).then(function () { toast("已提交发布"); reloadSoon(); }).catch(fail(m));
      });
    }
    on(document.body, "submit", "#qr-add", function (f) {
      api("POST", "/api/engage/qrcodes", { kind: "store", store_id: parseInt(f.store_id.value, 10) })
        .then(reloadSoon).catch(fail($(".msg", f)));
    });
    var push = $("#push-add");
    if (push) {
      var pm = $(".msg", push);
      var segment = function () {
        var s = {}, tags = push.tags.value.split(/[,，]/).map(function (t) { return t.trim(); }).filter(Boolean);
        if (tags.length) s.tags = tags;
        if (push.store_id.value) { s.store_id = parseInt(push.store_id.value, 10); s.within_km = parseFloat(push.within_km.value || "3"); }
        if (push.ordered_within_days.value) s.ordered_within_days = parseInt(push.ordered_within_days.value, 10);
        return s;
      };
      $("#push-preview").addEventListener("click", function () {
        api("POST", "/api/engage/segments/preview", { segment: segment() })
          .then(function (r) { pm.className = "msg"; pm.textContent = "约 " + r.count + " 位粉丝"; }).catch(fail(pm));
      });
      push.addEventListener("submit", function (ev) {
        ev.preventDefault();
        api("POST", "/api/engage/pushes", { name: push.name.value.trim(), segment: segment(), mode: push.mode.value,
          content: { text: push.text.value.trim() } })
          .then(function () { toast("已开始发送"); reloadSoon(); }).catch(fail(pm));
      });
    }
  };
  window.Staff = Staff;
})();
