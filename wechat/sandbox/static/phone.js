// The sandbox phone page: plays a customer's WeChat against the sandbox API (relative URLs: works under /sandbox or at /).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("sandbox-config").textContent);
  var state = { openid: null, user: null, lastId: 0, menu: null, polling: null, staff: null, staffLastId: 0,
                location: { latitude: 31.2304, longitude: 121.4737, label: "上海市黄浦区人民广场" } };
  var params = new URLSearchParams(location.search);

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function api(method, path, body) {
    var opts = { method: method, headers: {} };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = t ? JSON.parse(t) : null;
        if (!r.ok) { var e = new Error((data && (data.detail || data.message)) || ("HTTP " + r.status)); e.status = r.status; throw e; }
        return data;
      });
    });
  }
  function toast(text) {
    var t = $("toast"); t.textContent = text; t.classList.remove("hidden");
    clearTimeout(toast.timer); toast.timer = setTimeout(function () { t.classList.add("hidden"); }, 2200);
  }
  function scrollChat(id) { var c = $(id || "chat"); c.scrollTop = c.scrollHeight; }
  function setCookie(openid) {
    // The sandbox's OAuth page signs this user in silently, as WeChat does for its own user.
    document.cookie = "sandbox_openid=" + encodeURIComponent(openid) + "; path=/; SameSite=Lax";
  }

  // --- users -------------------------------------------------------------------------------------------
  function loadUsers(select) {
    return api("GET", "api/users").then(function (users) {
      var s = $("user-select");
      s.innerHTML = "";
      s.appendChild(el("option", { value: "", text: "选择用户…" }));
      users.forEach(function (u) {
        s.appendChild(el("option", { value: u.openid, text: u.nickname + (u.following ? " ✓" : "") + " · " + u.openid.slice(0, 10) }));
      });
      if (select) { s.value = select; }
      return users;
    });
  }
  function pickUser(openid) {
    state.openid = openid || null; state.lastId = 0; state.user = null;
    $("chat").innerHTML = "";
    try { localStorage.setItem("sandbox_phone_openid", openid || ""); } catch (e) { /* private mode */ }
    if (!openid) { render(); return Promise.resolve(); }
    setCookie(openid);
    return refreshUser().then(poll);
  }
  function refreshUser() {
    if (!state.openid) return Promise.resolve();
    return api("GET", "api/users/" + encodeURIComponent(state.openid)).then(function (u) { state.user = u; render(); });
  }
  function newUser() {
    var nickname = prompt("新用户的昵称", "");
    if (nickname === null) return;
    api("POST", "api/users", { nickname: nickname || undefined }).then(function (u) {
      return loadUsers(u.openid).then(function () { return pickUser(u.openid); });
    }).catch(function (e) { toast(e.message); });
  }

  // --- rendering ---------------------------------------------------------------------------------------
  function render() {
    var following = !!(state.user && state.user.following);
    $("follow-card").classList.toggle("hidden", !state.user || following);
    $("btn-follow").classList.toggle("hidden", following);
    $("btn-unfollow").classList.toggle("hidden", !following);
    $("composer").classList.toggle("hidden", !following);
    renderMenu();
  }
  function renderMenu() {
    var bar = $("menu-bar"), buttons = state.menu && state.menu.button;
    bar.innerHTML = "";
    $("sub-menu").classList.add("hidden");
    if (!buttons || !buttons.length) {
      bar.classList.add("hidden"); $("input-row").classList.remove("hidden"); $("to-menu").classList.add("hidden");
      return;
    }
    $("to-menu").classList.remove("hidden");
    bar.classList.toggle("hidden", !$("input-row").classList.contains("hidden"));
    bar.appendChild(el("button", { class: "menu-btn kbd", "aria-label": "键盘", text: "⌨", onclick: function () {
      $("sub-menu").classList.add("hidden");
      bar.classList.add("hidden"); $("input-row").classList.remove("hidden"); $("text-input").focus();
    } }));
    buttons.forEach(function (b, i) {
      var label = (b.sub_button && b.sub_button.length ? "≡ " : "") + b.name;
      bar.appendChild(el("button", { class: "menu-btn", "data-menu": String(i), text: label, onclick: function (ev) {
        if (b.sub_button && b.sub_button.length) openSubMenu(b.sub_button, ev.currentTarget); else tapButton(b);
      } }));
    });
  }
  function openSubMenu(subs, anchor) {
    var m = $("sub-menu");
    if (!m.classList.contains("hidden") && m.dataset.anchor === anchor.dataset.menu) { m.classList.add("hidden"); return; }
    m.innerHTML = ""; m.dataset.anchor = anchor.dataset.menu;
    subs.forEach(function (s) {
      m.appendChild(el("button", { text: s.name, onclick: function () { m.classList.add("hidden"); tapButton(s); } }));
    });
    m.style.left = Math.max(4, anchor.offsetLeft) + "px";
    m.classList.remove("hidden");
  }
  function tapButton(b) {
    if (b.type === "click") {
      act("click", { key: b.key });
    } else if (b.type === "view" || b.type === "miniprogram") {
      act("view", { url: b.url }, true);  // WeChat reports the tap; the page opens at once
      if (b.type === "miniprogram") toast("沙箱不运行小程序，打开备用网页");
      openWebview(b.url, b.name);
    }
  }
  function line(m) {
    var me = m.direction === "in";
    var avatar = el("div", { class: "avatar", text: me ? (state.user ? state.user.nickname.slice(0, 1) : "我") : "公" });
    if (me && state.user) avatar.style.background = state.user.avatar_color;
    if (!me) avatar.style.background = "#07c160";
    if (m.kind === "event") return el("div", { class: "note", text: m.summary });
    var content;
    if (m.kind === "template") content = templateCard(m);
    else if (m.body && (m.msg_type === "news")) content = newsCard(m);
    else if (m.kind === "location") content = el("div", { class: "bubble", text: m.summary });
    else content = el("div", { class: "bubble", text: m.summary || ("[" + m.msg_type + "]") });
    return el("div", { class: "row" + (me ? " me" : ""), "data-kind": m.kind }, [avatar, content]);
  }
  function templateCard(m) {
    var body = m.body || {}, data = body.data || {};
    var card = el("div", { class: "card", "data-template": body.template_id || "" }, [
      el("div", { class: "card-title", text: data.first ? data.first.value : "模板消息" }),
      el("div", { class: "card-sub", text: "模板 " + (body.template_id || "") }),
    ]);
    Object.keys(data).forEach(function (k) {
      if (k === "first" || k === "remark") return;
      card.appendChild(el("div", { class: "kv" }, [el("span", { class: "k", text: k }), el("span", { text: String(data[k].value) })]));
    });
    if (data.remark) card.appendChild(el("div", { class: "card-sub", text: data.remark.value }));
    if (body.url) card.appendChild(el("div", { class: "link", text: "详情 ›", onclick: function () { openWebview(body.url, "详情"); } }));
    return card;
  }
  function newsCard(m) {
    var articles = (m.body.news && m.body.news.articles) || m.body.articles || [];
    var a = articles[0] || {};
    return el("div", { class: "card news", onclick: function () { if (a.url) openWebview(a.url, a.title); } }, [
      el("div", { class: "card-title", text: a.title || "图文消息" }),
      el("div", { class: "desc", text: a.description || "" }),
    ]);
  }
  function poll() {
    if (!state.openid) return Promise.resolve();
    var openid = state.openid;
    return api("GET", "api/users/" + encodeURIComponent(openid) + "/messages?after=" + state.lastId).then(function (rows) {
      if (openid !== state.openid) return;
      // Polls overlap (timer and actions): a row already shown is skipped.
      rows = rows.filter(function (m) { return m.id > state.lastId; });
      rows.forEach(function (m) { $("chat").appendChild(line(m)); state.lastId = Math.max(state.lastId, m.id); });
      if (rows.length) scrollChat();
    }).catch(function () { /* the next poll tries again */ });
  }
  function loadMenu() {
    return api("GET", "api/menu").then(function (r) {
      var same = JSON.stringify(r.menu) === JSON.stringify(state.menu);
      // A menu that appears (published after the page opened) is shown, as WeChat shows it, not the keyboard.
      var appeared = !(state.menu && state.menu.button && state.menu.button.length) && r.menu && r.menu.button && r.menu.button.length;
      state.menu = r.menu;
      if (appeared) $("input-row").classList.add("hidden");
      if (!same) renderMenu();
    }).catch(function () {});
  }

  // --- actions (each POSTs and waits for the project's reply) -----------------------------------------
  function act(kind, body, quiet) {
    if (!state.openid) { toast("先选择一个用户"); return Promise.resolve(); }
    var p = api("POST", "api/users/" + encodeURIComponent(state.openid) + "/" + kind, body || {});
    setTimeout(poll, 150);
    return p.then(function (d) {
      if (d && (d.status === "failed" || d.status === "bad_reply") && !quiet) {
        $("chat").appendChild(el("div", { class: "note error", text: "该公众号暂时无法提供服务，请稍后再试（" + (d.error || d.status) + "）" }));
        scrollChat();
      }
      var relist = kind === "follow" || kind === "unfollow" || kind === "scan" ? loadUsers(state.openid) : null;
      return Promise.all([refreshUser(), relist]).then(poll).then(function () { return d; });
    }).catch(function (e) { toast(e.message); });
  }
  function sendText() {
    var input = $("text-input"), text = input.value.trim();
    if (!text) return;
    input.value = "";
    act("text", { content: text });
  }
  function sheet(title, build) {
    var body = $("sheet-body");
    body.innerHTML = "";
    body.appendChild(el("h3", { text: title }));
    build(body, closeSheet);
    body.appendChild(el("button", { text: "取消", onclick: closeSheet }));
    $("sheet").classList.remove("hidden");
  }
  function closeSheet() { $("sheet").classList.add("hidden"); }
  var PLACES = [
    { label: "上海市黄浦区人民广场", latitude: 31.2304, longitude: 121.4737 },
    { label: "上海市浦东新区陆家嘴", latitude: 31.2397, longitude: 121.4998 },
    { label: "上海市静安区静安寺", latitude: 31.2235, longitude: 121.4458 },
    { label: "杭州市西湖区", latitude: 30.2592, longitude: 120.1300 },
  ];
  function chooseLocation(asEvent) {
    sheet(asEvent ? "上报地理位置" : "发送位置", function (body, close) {
      PLACES.forEach(function (p) {
        body.appendChild(el("button", { class: "option", text: p.label, onclick: function () {
          close(); state.location = p;
          act("location", { latitude: p.latitude, longitude: p.longitude, label: p.label, event: !!asEvent });
        } }));
      });
      var lat = el("input", { placeholder: "纬度", inputmode: "decimal" }), lng = el("input", { placeholder: "经度", inputmode: "decimal" });
      body.appendChild(el("div", { class: "row-fields" }, [lat, lng, el("button", { text: "发送", onclick: function () {
        var la = parseFloat(lat.value), lo = parseFloat(lng.value);
        if (isNaN(la) || isNaN(lo)) { toast("请输入经纬度"); return; }
        close(); state.location = { latitude: la, longitude: lo, label: "" };
        act("location", { latitude: la, longitude: lo, event: !!asEvent });
      } })]));
    });
  }
  function chooseScan() {
    api("GET", "api/qrcodes").then(function (codes) {
      sheet("扫一扫：选择二维码", function (body, close) {
        var now = Date.now() / 1000;
        var live = codes.filter(function (q) { return !q.expires_at || q.expires_at > now; });
        if (!live.length) body.appendChild(el("div", { class: "note", text: "项目还没有生成带参数二维码（qrcode/create）" }));
        live.forEach(function (q) {
          body.appendChild(el("button", { class: "option", text: "场景 " + q.scene + (q.expires_at ? "（临时）" : "（永久）"),
            onclick: function () { close(); act("scan", { ticket: q.ticket }); } }));
        });
      });
    }).catch(function (e) { toast(e.message); });
  }
  function showDeliveries() {
    api("GET", "api/deliveries?limit=10&openid=" + encodeURIComponent(state.openid || "")).then(function (rows) {
      sheet("推送到项目的记录（最近 10 条）", function (body) {
        rows.forEach(function (d) {
          body.appendChild(el("div", { class: "note" + (d.status === "failed" || d.status === "bad_reply" ? " error" : ""),
            text: "#" + d.id + " " + (d.event || d.msg_type) + " → " + d.status + " ×" + d.attempts + (d.error ? "：" + d.error : "") }));
          body.appendChild(el("pre", { text: d.url }));
        });
      });
    });
  }

  // --- web view (H5 pages through OAuth, with the JS bridge inside) -------------------------------------
  function openWebview(url, title) {
    if (!/^https?:\/\//.test(url)) { toast("无效链接"); return; }
    $("webview-title").textContent = title || url;
    $("webview-frame").src = url;
    $("webview").classList.remove("hidden");
  }
  function closeWebview() { $("webview").classList.add("hidden"); $("webview-frame").src = "about:blank"; poll(); }
  window.addEventListener("message", function (ev) {
    var msg = ev.data || {};
    if (msg.type === "sandbox:closeWindow") closeWebview();
    if (msg.type === "sandbox:getLocation" && ev.source) {
      ev.source.postMessage({ type: "sandbox:location", id: msg.id, location: state.location }, "*");
    }
    if (msg.type === "sandbox:paid") setTimeout(poll, 500);
    if (msg.type === "sandbox:api" && ev.source) relayApi(msg, ev.source);
  });
  // The JS bridge in the web view asks us to call the sandbox API (we are same-origin with it). Only what a
  // WeChat client itself would do is allowed: pay a JSAPI order, show its amount, check wx.config.
  var RELAYED = /^api\/(pay\/jsapi|pay\/orders(\?[^/]*)?|jssdk\/verify)$/;
  function relayApi(msg, source) {
    var path = String(msg.path || "").replace(/^\//, "");
    var reply = function (r) { source.postMessage({ type: "sandbox:api-result", id: msg.id, ok: r.ok, status: r.status, text: r.text }, "*"); };
    if (!RELAYED.test(path)) { reply({ ok: false, status: 403, text: JSON.stringify({ message: "not relayed: " + path }) }); return; }
    source.postMessage({ type: "sandbox:ack", id: msg.id }, "*");
    var body = msg.body;
    if (path === "api/pay/jsapi" && body && !body.openid) body.openid = state.openid;
    var opts = { method: msg.method === "GET" ? "GET" : "POST", headers: {} };
    if (body !== undefined && opts.method === "POST") { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    fetch(path, opts).then(function (r) { return r.text().then(function (t) { reply({ ok: r.ok, status: r.status, text: t }); }); })
      .catch(function (e) { reply({ ok: false, status: 0, text: JSON.stringify({ message: String(e) }) }); });
  }

  // --- WeCom staff view -------------------------------------------------------------------------------
  function loadStaff() {
    return api("GET", "api/wecom/users").then(function (rows) {
      var s = $("staff-select"), keep = s.value;
      s.innerHTML = "";
      s.appendChild(el("option", { value: "", text: "选择员工 userid…" }));
      rows.forEach(function (r) { s.appendChild(el("option", { value: r.userid, text: r.userid + "（" + r.messages + "）" })); });
      s.value = keep;
    }).catch(function () {});
  }
  function pickStaff(userid) { state.staff = userid || null; state.staffLastId = 0; $("wecom-chat").innerHTML = ""; pollStaff(); }
  function pollStaff() {
    if (!state.staff) return;
    var who = state.staff;
    api("GET", "api/wecom/messages?touser=" + encodeURIComponent(who) + "&after=" + state.staffLastId).then(function (rows) {
      if (who !== state.staff) return;
      rows.forEach(function (m) {
        if (m.id <= state.staffLastId) return;
        state.staffLastId = Math.max(state.staffLastId, m.id);
        var c = m.content || {}, node;
        if (m.msgtype === "textcard") {
          var desc = el("div", { class: "desc" });
          desc.textContent = String(c.description || "").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
          node = el("div", { class: "card" }, [el("div", { class: "card-title", text: c.title }), desc,
            el("div", { class: "link", text: (c.btntxt || "详情") + " ›", onclick: function () { openWebview(c.url, c.title); } })]);
        } else {
          node = el("div", { class: "bubble", text: c.content || ("[" + m.msgtype + "]") });
        }
        $("wecom-chat").appendChild(el("div", { class: "row" }, [el("div", { class: "avatar", text: "企" }), node]));
      });
      if (rows.length) scrollChat("wecom-chat");
    }).catch(function () {});
  }
  function showTab(tab) {
    $("tab-wechat").classList.toggle("active", tab === "wechat");
    $("tab-wecom").classList.toggle("active", tab === "wecom");
    $("wechat-view").classList.toggle("hidden", tab !== "wechat");
    $("wecom-view").classList.toggle("hidden", tab !== "wecom");
    $("who-bar").classList.toggle("hidden", tab !== "wechat");
    if (tab === "wecom") loadStaff();
  }

  // --- wiring -----------------------------------------------------------------------------------------
  $("user-select").addEventListener("change", function (e) { pickUser(e.target.value); });
  $("new-user").addEventListener("click", newUser);
  $("more").addEventListener("click", function () { $("more-panel").classList.toggle("hidden"); });
  $("more-panel").addEventListener("click", function () { $("more-panel").classList.add("hidden"); });
  $("btn-follow").addEventListener("click", function () { act("follow"); });
  $("follow-card-btn").addEventListener("click", function () { act("follow"); });
  $("btn-unfollow").addEventListener("click", function () { act("unfollow"); });
  $("btn-scan").addEventListener("click", chooseScan);
  $("follow-card-scan").addEventListener("click", chooseScan);
  $("btn-report-location").addEventListener("click", function () { chooseLocation(true); });
  $("btn-delivery-log").addEventListener("click", showDeliveries);
  $("btn-send").addEventListener("click", sendText);
  $("text-input").addEventListener("keydown", function (e) { if (e.key === "Enter") sendText(); });
  $("btn-location").addEventListener("click", function () { chooseLocation(false); });
  $("to-menu").addEventListener("click", function () { $("input-row").classList.add("hidden"); $("menu-bar").classList.remove("hidden"); });
  $("sheet").addEventListener("click", function (e) { if (e.target.id === "sheet") closeSheet(); });
  $("chat").addEventListener("click", function () { $("sub-menu").classList.add("hidden"); $("more-panel").classList.add("hidden"); });
  $("webview-close").addEventListener("click", closeWebview);
  $("webview-reload").addEventListener("click", function () { var f = $("webview-frame"); f.src = f.src; });
  $("tab-wechat").addEventListener("click", function () { showTab("wechat"); });
  $("tab-wecom").addEventListener("click", function () { showTab("wecom"); });
  $("staff-select").addEventListener("change", function (e) { $("staff-input").value = ""; pickStaff(e.target.value); });
  $("staff-input").addEventListener("change", function (e) { pickStaff(e.target.value.trim()); });

  var remembered = params.get("openid");
  try { remembered = remembered || localStorage.getItem("sandbox_phone_openid"); } catch (e) { /* private mode */ }
  loadMenu();
  loadUsers().then(function (users) {
    var known = users.some(function (u) { return u.openid === remembered; });
    if (known) { $("user-select").value = remembered; return pickUser(remembered); }
    render();
  }).then(function () {
    // Opened by scanning a sandbox QR code (its content is …/phone?scan=TICKET): scan as the current user.
    var ticket = params.get("scan");
    if (ticket && state.openid) act("scan", { ticket: ticket });
    else if (ticket) toast("先选择用户，再扫码");
  });
  state.polling = setInterval(function () {
    if (!$("wechat-view").classList.contains("hidden")) { poll(); loadMenu(); } else { pollStaff(); }
  }, 2000);
})();
