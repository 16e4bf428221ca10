/* Parley comments widget. Embed with:
 *   <div data-parley-thread="blog/hello"></div>
 *   <script src="https://comments.example.com/embed.js" async></script>
 * Plain JavaScript, no build step. Renders in an open Shadow DOM, sets no cookie, calls only its own server.
 * User text only ever reaches the page through textContent. */
(() => {
  'use strict';
  const me = document.currentScript;
  const SERVER = new URL('.', me ? me.src : location.href).href.replace(/\/$/, '');
  const HOST = new URL(SERVER).host;
  const EDIT_MS = 15 * 60 * 1000;
  const KEY = 'parley:' + SERVER;

  const S = {
    en: {title: 'Comments', name: 'Name', email: 'Email (optional, for reply notifications)', body: 'Comment',
      post: 'Post comment', reply: 'Reply', edit: 'Edit', del: 'Delete', save: 'Save', cancel: 'Cancel',
      confirm: 'Delete this comment?', yes: 'Yes, delete', orig: 'Show original', trans: 'Show translation',
      from: 'Translation · original in {0}', awaiting: 'Awaiting moderation',
      held: 'Thank you! A moderator will read your comment before others can see it.',
      rejected: 'This comment was not published.', deleted: 'This comment was deleted.', edited: 'edited',
      hide: 'Hide replies ({0})', show: 'Show replies ({0})', more: 'Show more comments', empty: 'No comments yet.',
      replyTo: 'Reply to {0}', e429: 'You are posting too fast. Please try again in {0} seconds.',
      e503: 'The comment service is busy. Please try again in a moment.',
      offline: 'You seem to be offline. Please check your connection and try again.',
      eload: 'Comments could not be loaded from {0}. This site may not be allowed to use it.',
      e400: 'Please check: {0}.', e403: 'Only the author can change this comment.',
      e409: 'This comment can no longer be changed.', e: 'Something went wrong. Please try again.'},
    fr: {title: 'Commentaires', name: 'Nom', email: 'E-mail (facultatif, pour être averti des réponses)',
      body: 'Commentaire', post: 'Publier le commentaire', reply: 'Répondre', edit: 'Modifier', del: 'Supprimer',
      save: 'Enregistrer', cancel: 'Annuler', confirm: 'Supprimer ce commentaire ?', yes: 'Oui, supprimer',
      orig: 'Voir l’original', trans: 'Voir la traduction', from: 'Traduction · original en {0}',
      awaiting: 'En attente de modération',
      held: 'Merci ! Un modérateur lira votre commentaire avant qu’il soit visible par les autres.',
      rejected: 'Ce commentaire n’a pas été publié.', deleted: 'Ce commentaire a été supprimé.', edited: 'modifié',
      hide: 'Masquer les réponses ({0})', show: 'Afficher les réponses ({0})', more: 'Plus de commentaires',
      empty: 'Aucun commentaire pour l’instant.', replyTo: 'Réponse à {0}',
      e429: 'Vous publiez trop vite. Réessayez dans {0} secondes.',
      e503: 'Le service de commentaires est surchargé. Réessayez dans un instant.',
      offline: 'Vous semblez hors ligne. Vérifiez votre connexion et réessayez.',
      eload: 'Impossible de charger les commentaires depuis {0}. Ce site n’y est peut-être pas autorisé.',
      e400: 'Vérifiez : {0}.', e403: 'Seul l’auteur peut modifier ce commentaire.',
      e409: 'Ce commentaire ne peut plus être modifié.', e: 'Une erreur est survenue. Réessayez.'},
    de: {title: 'Kommentare', name: 'Name', email: 'E-Mail (optional, für Benachrichtigungen über Antworten)',
      body: 'Kommentar', post: 'Kommentar senden', reply: 'Antworten', edit: 'Bearbeiten', del: 'Löschen',
      save: 'Speichern', cancel: 'Abbrechen', confirm: 'Diesen Kommentar löschen?', yes: 'Ja, löschen',
      orig: 'Original anzeigen', trans: 'Übersetzung anzeigen', from: 'Übersetzung · Original auf {0}',
      awaiting: 'Wartet auf Moderation',
      held: 'Danke! Ein Moderator liest Ihren Kommentar, bevor andere ihn sehen.',
      rejected: 'Dieser Kommentar wurde nicht veröffentlicht.', deleted: 'Dieser Kommentar wurde gelöscht.',
      edited: 'bearbeitet', hide: 'Antworten ausblenden ({0})', show: 'Antworten anzeigen ({0})',
      more: 'Weitere Kommentare', empty: 'Noch keine Kommentare.', replyTo: 'Antwort an {0}',
      e429: 'Sie schreiben zu schnell. Bitte versuchen Sie es in {0} Sekunden erneut.',
      e503: 'Der Kommentardienst ist ausgelastet. Bitte versuchen Sie es gleich noch einmal.',
      offline: 'Sie scheinen offline zu sein. Bitte prüfen Sie Ihre Verbindung und versuchen Sie es erneut.',
      eload: 'Die Kommentare konnten nicht von {0} geladen werden. Diese Website ist dafür vielleicht nicht freigegeben.',
      e400: 'Bitte prüfen: {0}.', e403: 'Nur der Autor kann diesen Kommentar ändern.',
      e409: 'Dieser Kommentar kann nicht mehr geändert werden.', e: 'Etwas ist schiefgegangen. Bitte versuchen Sie es erneut.'},
    es: {title: 'Comentarios', name: 'Nombre', email: 'Correo electrónico (opcional, para avisos de respuestas)',
      body: 'Comentario', post: 'Publicar comentario', reply: 'Responder', edit: 'Editar', del: 'Eliminar',
      save: 'Guardar', cancel: 'Cancelar', confirm: '¿Eliminar este comentario?', yes: 'Sí, eliminar',
      orig: 'Ver original', trans: 'Ver traducción', from: 'Traducción · original en {0}',
      awaiting: 'Pendiente de moderación',
      held: '¡Gracias! Un moderador leerá tu comentario antes de que otros puedan verlo.',
      rejected: 'Este comentario no se ha publicado.', deleted: 'Este comentario se ha eliminado.', edited: 'editado',
      hide: 'Ocultar respuestas ({0})', show: 'Mostrar respuestas ({0})', more: 'Más comentarios',
      empty: 'Todavía no hay comentarios.', replyTo: 'Respuesta a {0}',
      e429: 'Publicas demasiado rápido. Inténtalo de nuevo en {0} segundos.',
      e503: 'El servicio de comentarios está ocupado. Inténtalo de nuevo en un momento.',
      offline: 'Parece que no tienes conexión. Compruébala e inténtalo de nuevo.',
      eload: 'No se pudieron cargar los comentarios desde {0}. Puede que este sitio no tenga permiso.',
      e400: 'Revisa: {0}.', e403: 'Solo el autor puede cambiar este comentario.',
      e409: 'Este comentario ya no se puede cambiar.', e: 'Algo salió mal. Inténtalo de nuevo.'},
  };

  const CSS = `
:host{display:block;contain:content;--bg:#fff;--fg:#1b1b1b;--mute:#555;--line:#d3d3d3;--acc:#0b57d0;--on:#fff;
--warn:#7a4b00;--bad:#b00020}
section{color:var(--fg);background:var(--bg);font:16px/1.5 system-ui,sans-serif;text-align:start;padding:.1px .5em}
@media (prefers-color-scheme:dark){:host{--bg:#1c1d1f;--fg:#ececec;--mute:#b4b4b4;--line:#4a4a4a;--acc:#8ab4f8;
--on:#0b1f44;--warn:#f3c26b;--bad:#ff9c9c}}
*{box-sizing:border-box}
[hidden]{display:none!important}
h2{font-size:1.25em;margin:.5em 0}
form{display:grid;gap:.35em;margin:.6em 0 1em;max-width:42em}
label{font-weight:600;font-size:.9em}
input,textarea{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--mute);border-radius:4px;
padding:.4em .5em;width:100%}
textarea{min-height:5em;resize:vertical}
button{font:inherit;font-size:.9em;cursor:pointer;border:1px solid var(--acc);color:var(--acc);background:var(--bg);
border-radius:4px;padding:.2em .7em}
button.p{background:var(--acc);color:var(--on);justify-self:start}
button:disabled{cursor:wait}
:focus-visible{outline:2px solid var(--acc);outline-offset:2px}
[aria-invalid=true]{border:2px solid var(--bad)}
.alert{color:var(--bad);font-weight:600;border-inline-start:4px solid var(--bad);padding:.2em .6em;margin:.4em 0}
article{margin:.6em 0 0;padding-top:.5em;border-top:1px solid var(--line);min-width:0}
.kids{margin-inline-start:1em;padding-inline-start:.8em;border-inline-start:2px solid var(--line)}
.meta{font-size:.875em;color:var(--mute);display:flex;flex-wrap:wrap;gap:.2em .6em;align-items:baseline}
.who{font-weight:700;color:var(--fg)}
.who,.txt,.note{unicode-bidi:isolate;overflow-wrap:anywhere;min-width:0;max-width:100%}
.txt{white-space:pre-wrap;margin:.3em 0}
.badge{font-size:.8em;font-weight:600;border:1px solid;border-radius:1em;padding:0 .6em;color:var(--warn)}
.note{font-size:.875em;color:var(--mute);margin:.2em 0}
.acts{display:flex;flex-wrap:wrap;gap:.4em;align-items:center;margin:.25em 0}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}`;

  let sheet = null;
  function style(root) {
    // A constructed stylesheet is not an inline style: a host page's strict style-src CSP does not block it.
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      try {
        if (!sheet) { sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); }
        root.adoptedStyleSheets = [sheet];
        return;
      } catch (_) { /* older browser: fall back to a <style> element */ }
    }
    root.append(h('style', {}, CSS));
  }

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'value' || (k in el && typeof v !== 'string')) el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined && kid !== false) el.append(kid);
    return el;
  }
  const fmt = (s, ...a) => s.replace(/\{(\d)\}/g, (_, i) => a[i]);
  const primary = (l) => String(l || 'en').toLowerCase().split(/[-_]/)[0];

  function store() {
    try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (_) { return {}; }
  }
  function save(data) {
    try { localStorage.setItem(KEY, JSON.stringify(data)); } catch (_) { /* private mode: tokens not kept */ }
  }
  function tokens() { return store().tokens || {}; }
  function setToken(id, token, thread) {
    const data = store();
    data.tokens = data.tokens || {};
    if (token) data.tokens[id] = {token, thread}; else delete data.tokens[id];
    save(data);
  }

  class ApiError extends Error {
    constructor(kind, status, res, data) {
      super(kind);
      this.kind = kind; this.status = status;
      this.retry = res ? res.headers.get('Retry-After') : null;
      this.fields = (data && data.error && data.error.fields) || {};
    }
  }

  async function call(method, path, {body, token, etag} = {}) {
    const headers = {};
    if (body) headers['Content-Type'] = 'application/json';
    if (token) headers['X-Author-Token'] = token;
    if (etag) headers['If-None-Match'] = etag;
    let res;
    try {
      res = await fetch(SERVER + path, {method, headers, mode: 'cors', credentials: 'omit',
        body: body ? JSON.stringify(body) : undefined});
    } catch (_) {
      throw new ApiError(navigator.onLine === false ? 'offline' : 'network', 0);
    }
    if (res.status === 304) return {status: 304, etag};
    let data = null;
    if (res.status !== 204) { try { data = await res.json(); } catch (_) { data = null; } }
    if (!res.ok) throw new ApiError('http', res.status, res, data);
    return {status: res.status, data, etag: res.headers.get('ETag')};
  }

  function relative(iso, lang) {
    const secs = (new Date(iso).getTime() - Date.now()) / 1000;
    const units = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600],
      ['minute', 60], ['second', 1]];
    const [unit, size] = units.find(([, n]) => Math.abs(secs) >= n) || ['second', 1];
    try {
      return new Intl.RelativeTimeFormat(lang, {numeric: 'auto'}).format(Math.round(secs / size), unit);
    } catch (_) { return new Date(iso).toLocaleString(); }
  }

  function langName(code, lang) {
    try { return new Intl.DisplayNames([lang], {type: 'language'}).of(code) || code; } catch (_) { return code; }
  }

  let uid = 0;

  class Thread {
    constructor(host) {
      this.host = host;
      this.thread = host.dataset.parleyThread;
      this.given = host.dataset.parleyLang;
      this.lang = primary(this.given || navigator.language);
      this.ui = S[this.lang] ? this.lang : 'en';
      this.t = S[this.ui];
      this.items = new Map();
      this.root = host.shadowRoot || host.attachShadow({mode: 'open'});
      this.root.replaceChildren();
      style(this.root);
      this.alert = h('div', {role: 'alert', class: 'alert', hidden: true});
      this.count = h('h2', {text: this.t.title});
      this.list = h('div', {class: 'list'});
      this.empty = h('p', {class: 'note', text: this.t.empty, hidden: true});
      this.section = h('section', {lang: this.ui, tabindex: '-1', 'aria-label': this.t.title},
        this.count, this.alert, this.form(null), this.empty, this.list);
      this.root.append(this.section);
      clearInterval(host._parleyTimer);
      host._parleyTimer = setInterval(() => this.tick(), 30000);
      this.load();
    }

    say(box, text) { box.textContent = text || ''; box.hidden = !text; }

    message(err, where) {
      const t = this.t;
      if (err.kind === 'offline') return t.offline;
      if (err.kind === 'network') return where === 'load' ? fmt(t.eload, HOST) : t.e503;
      if (err.status === 429) return fmt(t.e429, /^\d+$/.test(err.retry || '') ? err.retry : 60);
      if (err.status === 503) return t.e503;
      if (err.status === 403) return t.e403;
      if (err.status === 409) return t.e409;
      if (err.status === 400 || err.status === 413) {
        const names = {author: t.name, body: t.body, email: t.email};
        const list = Object.keys(err.fields).map((f) => names[f]).filter(Boolean);
        return list.length ? fmt(t.e400, list.join(', ')) : t.e;
      }
      return where === 'load' ? fmt(t.eload, HOST) : t.e;
    }

    path(extra) {
      return '/api/threads/' + this.thread.split('/').map(encodeURIComponent).join('/') + '/comments' + extra;
    }

    async load() {
      const seen = [];
      try {
        let cursor = null, pages = 0;
        do {
          const q = '?limit=100&lang=' + encodeURIComponent(this.lang) + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
          const {data} = await call('GET', this.path(q));
          seen.push(...data.comments);
          cursor = data.next_cursor;
        } while (cursor && ++pages < 50);
      } catch (err) {
        this.say(this.alert, this.message(err, 'load'));
        return;
      }
      for (const c of seen) this.items.set(c.id, {c});
      // The reader's own comments not (yet) visible to others, read with their author token.
      const own = Object.entries(tokens()).filter(([id, v]) => v.thread === this.thread && !this.items.has(+id));
      await Promise.all(own.map(async ([id, v]) => {
        try {
          const {data} = await call('GET', '/api/comments/' + id + '?lang=' + this.lang, {token: v.token});
          if (data.thread === this.thread && data.status !== 'deleted') this.items.set(data.id, {c: data});
        } catch (err) {
          if (err.status === 404) setToken(id, null);
        }
      }));
      const all = [...this.items.values()].sort((a, b) => a.c.id - b.c.id);
      for (const item of all) this.place(item);
      for (const item of all) if (this.mine(item.c.id) && item.c.status === 'pending') this.watch(item.c.id);
      this.counted();
    }

    mine(id) { return tokens()[id]; }

    counted() {
      const n = [...this.items.values()].filter((i) => i.c.status !== 'deleted').length;
      this.count.textContent = n ? this.t.title + ' (' + n + ')' : this.t.title;
      this.empty.hidden = n > 0;
    }

    place(item) {
      const c = item.c;
      item.content = h('div', {class: 'c'});
      item.replies = h('div', {class: 'kids-list'});
      item.toggle = h('button', {type: 'button', hidden: true, 'aria-expanded': 'true',
        onclick: () => this.collapse(item, item.toggle.getAttribute('aria-expanded') === 'true')});
      item.slot = h('div');
      item.kids = h('div', {class: 'kids'}, item.slot, item.toggle, item.replies);
      item.el = h('article', {id: 'parley-c' + c.id, tabindex: '-1', lang: null}, item.content, item.kids);
      item.translated = true;
      const parent = c.parent_id && this.items.get(c.parent_id);
      (parent && parent.el ? parent.replies : this.list).append(item.el);
      this.draw(item);
      if (parent) this.kidsChanged(parent);
    }

    kidsChanged(item) {
      const n = item.replies.children.length;
      item.toggle.hidden = n === 0;
      item.replies.id = item.replies.id || 'parley-r' + (++uid);
      item.toggle.setAttribute('aria-controls', item.replies.id);
      this.collapse(item, item.replies.hidden);
    }

    collapse(item, hide) {
      const n = item.replies.children.length;
      item.replies.hidden = hide;
      item.toggle.setAttribute('aria-expanded', String(!hide));
      item.toggle.textContent = fmt(hide ? this.t.show : this.t.hide, n);
    }

    draw(item) {
      const {c} = item, t = this.t, own = this.mine(c.id);
      const nodes = [];
      const meta = h('div', {class: 'meta'});
      if (c.status === 'deleted') {
        nodes.push(h('p', {class: 'note', text: t.deleted}));
      } else {
        meta.append(h('span', {class: 'who', dir: 'auto', text: c.author || '—'}));
        meta.append(h('time', {datetime: c.created_at, title: new Date(c.created_at).toLocaleString(this.ui),
          text: relative(c.created_at, this.ui)}));
        if (c.edited_at) meta.append(h('span', {text: '(' + t.edited + ')'}));
        if (own && c.status === 'pending') meta.append(h('span', {class: 'badge', role: 'status', text: t.awaiting}));
        nodes.push(meta);
        const tr = c.translations && c.translations[this.lang];
        const hasTr = c.lang !== this.lang && tr && tr.status === 'done' && tr.text && c.status === 'published';
        const showTr = hasTr && item.translated;
        if (c.body !== null && c.body !== undefined) {
          nodes.push(h('p', {class: 'txt', dir: 'auto', lang: showTr ? this.lang : c.lang, text: showTr ? tr.text : c.body}));
        }
        if (showTr) nodes.push(h('p', {class: 'note', text: fmt(t.from, langName(c.lang, this.ui))}));
        if (own && c.status === 'flagged') nodes.push(h('p', {class: 'note', role: 'status', text: t.held}));
        if (own && c.status === 'rejected') nodes.push(h('p', {class: 'note', text: t.rejected}));
        const acts = h('div', {class: 'acts'});
        if (hasTr) {
          acts.append(h('button', {type: 'button', text: showTr ? t.orig : t.trans, onclick: () => {
            item.translated = !item.translated; this.draw(item); this.focusIn(item, showTr ? t.trans : t.orig);
          }}));
        }
        if (c.status === 'published' || (own && c.status === 'flagged')) {
          const rb = h('button', {type: 'button', text: t.reply, onclick: () => this.openReply(item, rb)});
          acts.append(rb);
        }
        if (own && c.status !== 'rejected' && Date.now() - new Date(c.created_at).getTime() < EDIT_MS) {
          acts.append(h('button', {type: 'button', text: t.edit, onclick: () => this.openEdit(item)}));
        }
        if (own) acts.append(h('button', {type: 'button', text: t.del, onclick: () => this.askDelete(item, acts)}));
        item.alert = h('div', {role: 'alert', class: 'alert', hidden: true});
        nodes.push(acts, item.alert);
      }
      item.content.replaceChildren(...nodes);
    }

    focusIn(item, label) {
      const b = [...item.content.querySelectorAll('button')].find((x) => x.textContent === label);
      if (b) b.focus();
    }

    tick() {
      if (!this.host.isConnected) { clearInterval(this.host._parleyTimer); return; }
      for (const el of this.root.querySelectorAll('time')) el.textContent = relative(el.dateTime, this.ui);
    }

    field(label, input) {
      input.id = 'parley-f' + (++uid);
      return [h('label', {for: input.id, text: label}), input];
    }

    form(parent, opener) {
      const t = this.t, remembered = store().name || '';
      const author = h('input', {name: 'author', autocomplete: 'name', required: true, maxLength: 100, value: remembered});
      const email = h('input', {name: 'email', type: 'email', autocomplete: 'email', maxLength: 254});
      const body = h('textarea', {name: 'body', required: true, rows: 4});
      const trap = h('input', {name: 'website', tabindex: '-1', autocomplete: 'off'});
      const alert = h('div', {role: 'alert', class: 'alert', hidden: true});
      const submit = h('button', {type: 'submit', class: 'p', text: t.post});
      const inputs = {author, email, body};
      const form = h('form', {novalidate: true, 'aria-label': parent ? fmt(t.replyTo, parent.c.author || '') : t.post},
        ...this.field(t.name, author), ...this.field(t.email, email), ...this.field(t.body, body),
        h('div', {class: 'hp', 'aria-hidden': 'true'}, h('label', {text: 'Website'}, trap)),
        alert, h('div', {class: 'acts'}, submit, parent ? h('button', {type: 'button', text: t.cancel,
          onclick: () => this.closeReply(parent, opener)}) : null));
      if (parent) form.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.closeReply(parent, opener); });
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        this.say(alert, '');
        const payload = {thread: this.thread, author: author.value.trim(), body: body.value, website: trap.value};
        if (this.given) payload.lang = this.lang;
        if (email.value.trim()) { payload.email = email.value.trim(); payload.notify_replies = true; }
        if (parent) payload.parent_id = parent.c.id;
        submit.disabled = true;
        try {
          const {data} = await call('POST', '/api/comments', {body: payload});
          for (const input of Object.values(inputs)) input.removeAttribute('aria-invalid');
          const s = store(); s.name = payload.author; save(s);
          if (data.author_token) setToken(data.id, data.author_token, this.thread);
          data.body = payload.body;
          const item = {c: data};
          this.items.set(data.id, item);
          this.place(item);
          if (parent) this.collapse(parent, false);
          this.counted();
          body.value = '';
          if (parent) this.closeReply(parent, null);
          item.el.focus();
          if (data.status === 'pending') this.watch(data.id);
        } catch (err) {
          for (const [name, input] of Object.entries(inputs)) {
            if (err.fields && err.fields[name]) input.setAttribute('aria-invalid', 'true');
            else input.removeAttribute('aria-invalid');
          }
          this.say(alert, this.message(err, 'post'));
        } finally {
          submit.disabled = false;
        }
      });
      return form;
    }

    openReply(item, opener) {
      if (item.slot.firstChild) { item.slot.querySelector('textarea').focus(); return; }
      const form = this.form(item, opener);
      item.slot.append(form);
      (form.querySelector('input[name=author]').value ? form.querySelector('textarea') : form.querySelector('input')).focus();
    }

    closeReply(item, opener) {
      item.slot.replaceChildren();
      if (opener && opener.isConnected) opener.focus();
    }

    openEdit(item) {
      const t = this.t, own = this.mine(item.c.id);
      const box = h('textarea', {name: 'body', rows: 4, value: item.c.body || ''});
      const alert = h('div', {role: 'alert', class: 'alert', hidden: true});
      const cancel = () => { this.draw(item); this.focusIn(item, t.edit); };
      const form = h('form', {novalidate: true, 'aria-label': t.edit}, ...this.field(t.body, box), alert,
        h('div', {class: 'acts'}, h('button', {type: 'submit', class: 'p', text: t.save}),
          h('button', {type: 'button', text: t.cancel, onclick: cancel})));
      form.addEventListener('keydown', (e) => { if (e.key === 'Escape') cancel(); });
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        try {
          const {data} = await call('PATCH', '/api/comments/' + item.c.id, {body: {body: box.value}, token: own.token});
          item.c = Object.assign(data, {body: data.body === null ? box.value : data.body});
          item.etag = null;
          this.draw(item);
          item.el.focus();
          if (item.c.status === 'pending') this.watch(item.c.id);
        } catch (err) {
          if (err.fields && err.fields.body) box.setAttribute('aria-invalid', 'true');
          this.say(alert, this.message(err, 'edit'));
        }
      });
      item.content.replaceChildren(form);
      box.focus();
    }

    askDelete(item, acts) {
      const t = this.t;
      const no = h('button', {type: 'button', text: t.cancel, onclick: () => { this.draw(item); this.focusIn(item, t.del); }});
      const yes = h('button', {type: 'button', class: 'p', text: t.yes, onclick: () => this.remove(item)});
      acts.replaceChildren(h('span', {text: t.confirm}), yes, no);
      yes.focus();
    }

    async remove(item) {
      const own = this.mine(item.c.id);
      try {
        await call('DELETE', '/api/comments/' + item.c.id, {token: own && own.token});
      } catch (err) {
        this.say(item.alert, this.message(err, 'delete'));
        return;
      }
      setToken(item.c.id, null);
      const parent = item.c.parent_id && this.items.get(item.c.parent_id);
      if (item.replies.children.length) {
        Object.assign(item.c, {status: 'deleted', body: null, author: null});
        this.draw(item);
        item.el.focus();
      } else {
        item.el.remove();
        this.items.delete(item.c.id);
        if (parent) this.kidsChanged(parent);
        (parent ? parent.el : this.section).focus();
      }
      this.counted();
    }

    watch(id) {
      const item = this.items.get(id);
      if (!item || item.watching) return;
      item.watching = true;
      let delay = 1000;
      const poll = async () => {
        if (!this.host.isConnected || !this.items.has(id)) return;
        const own = this.mine(id);
        try {
          const res = await call('GET', '/api/comments/' + id + '?lang=' + this.lang, {token: own && own.token, etag: item.etag});
          if (res.status !== 304) {
            item.etag = res.etag;
            if (res.data.body === null && item.c.body) res.data.body = item.c.body;
            item.c = res.data;
            const inForm = item.content.querySelector('form');
            if (!inForm) this.draw(item);
          }
        } catch (_) { /* keep polling: the server may come back */ }
        if (item.c.status === 'pending') setTimeout(poll, delay = Math.min(delay * 1.5, 15000));
        else item.watching = false;
      };
      setTimeout(poll, delay);
    }
  }

  function render(element) {
    if (!element || !element.dataset || !element.dataset.parleyThread) return;
    new Thread(element);
  }

  window.Parley = {render};
  const start = () => document.querySelectorAll('[data-parley-thread]').forEach(render);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
