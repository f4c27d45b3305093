// Entry point: the sign-in form, the session bar and the page table.

import { apiKey, scope, signIn, signOut, setUnauthorizedHandler } from './api.js';
import { h, fill, errorBox, clearStatus, announce } from './dom.js';
import { route, start, setHooks, reload } from './router.js';
import { overview } from './overview.js';
import { eventsList } from './events.js';
import { eventDetail } from './event.js';
import { quarantine } from './quarantine.js';
import { endpoints } from './endpoints.js';
import { flows, runsList, runDetail } from './flows.js';
import { alerts } from './alerts.js';

route('/', overview, 'Overview');
route('/overview', overview, 'Overview');
route('/events', eventsList, 'Events');
route('/events/:id', eventDetail, (ctx) => `Event ${ctx.params.id}`);
route('/quarantine', quarantine, 'Quarantine');
route('/endpoints', endpoints, 'Endpoints and destinations');
route('/flows', flows, 'Flows');
route('/runs', runsList, 'Runs');
route('/runs/:id', runDetail, (ctx) => `Run ${ctx.params.id}`);
route('/alerts', alerts, 'Alerts');

const SCOPE_TEXT = {
  read: 'read-only key: actions are hidden',
  write: 'write key',
  admin: 'admin key',
};

function showSession(signedIn) {
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('session').hidden = !signedIn;
  if (signedIn) {
    const s = scope();
    const label = document.getElementById('scope-label');
    label.textContent = `Signed in · ${SCOPE_TEXT[s] || s}`;
    label.dataset.scope = s;
  }
}

function signInPage(main) {
  showSession(false);
  document.title = 'Sign in · Switchyard';
  const input = h('input', { id: 'api-key', name: 'api-key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'api-key-help' });
  const problem = h('div', { id: 'sign-in-problem' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h('form', { class: 'signin panel', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to Switchyard'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('p', { id: 'api-key-help', class: 'muted' },
      'The key is kept in this browser tab’s session storage only and sent as Authorization: Bearer. Closing the tab or signing out forgets it.'),
    submit,
    problem);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    problem.replaceChildren();
    submit.disabled = true;
    try {
      const s = await signIn(input.value.trim());
      input.value = '';
      showSession(true);
      announce(`Signed in with ${s === "admin" ? "an" : "a"} ${s} key.`);
      reload();
    } catch (e) {
      fill(problem, errorBox(e, 'Sign-in'));
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, form);
  input.focus();
}

let lastPath = null;
setHooks({
  before(path) {
    if (!apiKey()) {
      signInPage(document.getElementById('main'));
      return false;
    }
    showSession(true);
    return true;
  },
  after(path, title) {
    document.title = `${title} · Switchyard`;
    const section = `/${path.split('/')[1] || ''}`;
    const navSection = section === '/runs' ? '/flows' : section === '/overview' ? '/' : section;
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === navSection) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    // A new page (not a refresh of this one) starts with a clean status line and takes focus.
    if (lastPath !== null && lastPath !== path) {
      clearStatus();
      document.getElementById('main').focus({ preventScroll: true });
      window.scrollTo(0, 0);
    }
    lastPath = path;
  },
});

// A key revoked or expired mid-session: back to the sign-in form (which also ends the current
// page's polls), saying why.
setUnauthorizedHandler((err) => {
  signOut();
  reload();
  const problem = document.getElementById('sign-in-problem');
  if (problem) fill(problem, errorBox(err, 'The session'));
});

document.getElementById('sign-out').addEventListener('click', () => {
  signOut();
  clearStatus();
  announce('Signed out. The key was removed from this tab.');
  signInPage(document.getElementById('main'));
});

document.getElementById('skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  document.getElementById('main').focus();
});

start();
