/**
 * The token form shared by the dashboard and the API reference: checks the token against the
 * server, keeps it in the dashboard's storage (so one sign-in serves both pages), and reports a
 * refused token in the form.
 */
import { ApiError, tokenStore } from './api';
import { alert, errorText, fill, h } from './dom';

export interface LoginOpts<T> {
  brand: string;
  title: string;
  intro: string;
  button: string;
  testid: string;
  /** shown above the form (why it is shown), if any */
  notice: Node | null;
  /** the words before the server's message when it refuses the token */
  refused: string;
  /** asks the server with the typed token; its answer goes to `done` */
  check: (token: string) => Promise<T>;
  done: (answer: T) => void;
}

export function loginForm<T>(o: LoginOpts<T>): { form: HTMLElement; input: HTMLInputElement } {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', placeholder: 'ADMIN_TOKEN or an issued token', required: true }) as HTMLInputElement;
  const remember = h('input', { type: 'checkbox', name: 'remember' }) as HTMLInputElement;
  const out = h('div', { class: 'login-out' }, o.notice);
  const btn = h('button', { type: 'submit', class: 'primary' }, o.button) as HTMLButtonElement;
  const form = h('form', {
    class: 'login-card', 'data-testid': o.testid,
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) { fill(out, alert('error', 'Type the token first.')); return; }
      btn.disabled = true;
      fill(out, h('span', { class: 'muted' }, 'Checking…'));
      let answer: T;
      try {
        answer = await o.check(token);
      } catch (e) {
        fill(out, alert('error', e instanceof ApiError && e.status === 401 ? `${o.refused}: ${e.message}` : errorText(e)));
        btn.disabled = false;
        input.select();
        return;
      }
      tokenStore.set(token, remember.checked);
      btn.disabled = false;
      o.done(answer);
    },
  },
  h('div', { class: 'brand brand-login' }, h('span', { class: 'logo' }, 'e'), o.brand),
  h('h1', null, o.title),
  h('p', { class: 'muted' }, o.intro),
  h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Token'), input),
  h('label', { class: 'check' }, remember, ' Remember on this browser (otherwise only for this tab)'),
  btn, out);
  return { form, input };
}
