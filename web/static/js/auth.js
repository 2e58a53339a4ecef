// Sign-in, sign-up and password reset screens. Node mode: over the WebSocket. Gateway mode:
// over HTTP with e-mail codes (docs/gateway.md).
import { h, setChildren } from './dom.js';
import { plainError } from './format.js';

const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const EMAIL_RE = /^[^\s@]+@[^\s@]+$/;

function checkUsername(v) {
  return USERNAME_RE.test(v) ? null : 'Usernames are 3 to 32 characters: letters, digits, _ . or -.';
}
function checkPassword(v) {
  const n = new TextEncoder().encode(v).length;
  return n >= 8 && n <= 128 ? null : 'Passwords are 8 to 128 bytes long.';
}
function checkEmail(v) {
  return EMAIL_RE.test(v) && v.length <= 254 ? null : 'Please enter a valid e-mail address.';
}
function checkNickname(v) {
  return Array.from(v).length <= 64 ? null : 'Display names are at most 64 characters.';
}

function field(label, input, hint) {
  return h('label.field', h('span.field-label', label), input, hint ? h('span.field-hint', hint) : null);
}

function input(testid, attrs = {}) {
  return h('input.input', { testid, ...attrs });
}

/**
 * Renders the auth screen into `root`.
 * opts: {mode, notice, actions: {login, register, requestCode, reset}} where each action
 * returns a promise and throws an error with a `code` to show.
 */
export function renderAuth(root, opts) {
  const { mode, actions } = opts;
  let screen = 'login';
  const errorBox = h('div.form-error', { testid: 'auth-error', role: 'alert', hidden: true });
  const infoBox = h('div.form-info', { testid: 'auth-info', role: 'status', hidden: opts.notice ? false : true, text: opts.notice || '' });
  const body = h('div.auth-body');

  function showError(e) {
    const text = typeof e === 'string' ? e : plainError(e);
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }
  function showInfo(text) {
    infoBox.textContent = text || '';
    infoBox.hidden = !text;
  }

  async function busy(button, fn) {
    showError('');
    button.disabled = true;
    const label = button.textContent;
    button.textContent = 'Please wait…';
    try {
      await fn();
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  function go(s) {
    screen = s;
    showError('');
    if (s !== 'login') showInfo('');
    draw();
  }

  function loginForm() {
    const user = input('login-username', { autocomplete: 'username', placeholder: mode === 'gateway' ? 'Username or e-mail' : 'Username', required: true, autocapitalize: 'none', spellcheck: 'false' });
    const pass = input('login-password', { type: 'password', autocomplete: 'current-password', placeholder: 'Password', required: true });
    const submit = h('button.btn.btn-primary.btn-block', { type: 'submit', testid: 'login-submit' }, 'Sign in');
    const form = h('form.auth-form', {
      onsubmit: (ev) => {
        ev.preventDefault();
        const login = user.value.trim();
        const password = pass.value;
        if (!login) return showError(mode === 'gateway' ? 'Enter your username or e-mail address.' : 'Enter your username.');
        if (!password) return showError('Enter your password.');
        busy(submit, () => actions.login({ login, password }));
      },
    },
    field(mode === 'gateway' ? 'Username or e-mail' : 'Username', user),
    field('Password', pass),
    submit,
    h('div.auth-links',
      h('button.link', { type: 'button', testid: 'show-register', onclick: () => go('register') }, 'Create an account'),
      mode === 'gateway' ? h('button.link', { type: 'button', testid: 'show-reset', onclick: () => go('reset') }, 'Forgot password?') : null));
    queueMicrotask(() => user.focus());
    return form;
  }

  // The account fields both sign-up forms have: inputs, their rows, and a reader that
  // checks them (an error message, or the values).
  function accountFields() {
    const user = input('register-username', { autocomplete: 'username', placeholder: 'e.g. mei_lin', autocapitalize: 'none', spellcheck: 'false' });
    const nick = input('register-nickname', { autocomplete: 'nickname', placeholder: 'How friends see you (optional)' });
    const pass = input('register-password', { type: 'password', autocomplete: 'new-password', placeholder: 'At least 8 characters' });
    const submit = h('button.btn.btn-primary.btn-block', { type: 'submit', testid: 'register-submit' }, 'Create account');
    const rows = [
      field('Username', user, '3–32 letters, digits, _ . or -'),
      field('Display name', nick),
      field('Password', pass),
    ];
    const read = () => {
      const account = { username: user.value.trim(), nickname: nick.value.trim(), password: pass.value };
      const error = checkUsername(account.username) || checkNickname(account.nickname) || checkPassword(account.password);
      return { error, account };
    };
    return { user, submit, rows, read };
  }

  function registerFormNode() {
    const f = accountFields();
    const form = h('form.auth-form', {
      onsubmit: (ev) => {
        ev.preventDefault();
        const { error, account } = f.read();
        if (error) return showError(error);
        busy(f.submit, () => actions.register(account));
      },
    },
    ...f.rows,
    f.submit,
    h('div.auth-links', h('button.link', { type: 'button', testid: 'show-login', onclick: () => go('login') }, 'I already have an account')));
    queueMicrotask(() => f.user.focus());
    return form;
  }

  // Gateway: step 1 asks for the address and sends a code; step 2 completes.
  function codeStep(purpose, onCode) {
    const email = input('email-input', { type: 'email', autocomplete: 'email', placeholder: 'you@example.com' });
    const submit = h('button.btn.btn-primary.btn-block', { type: 'submit', testid: 'send-code' }, 'Send code');
    const form = h('form.auth-form', {
      onsubmit: (ev) => {
        ev.preventDefault();
        const addr = email.value.trim();
        const err = checkEmail(addr);
        if (err) return showError(err);
        busy(submit, async () => {
          await actions.requestCode(addr, purpose);
          onCode(addr);
        });
      },
    },
    h('p.auth-lead', purpose === 'register'
      ? 'We will e-mail you a 6-digit code to confirm your address.'
      : 'Enter the address of your account; we will e-mail you a 6-digit code.'),
    field('E-mail', email),
    submit,
    h('div.auth-links', h('button.link', { type: 'button', testid: 'show-login', onclick: () => go('login') }, 'Back to sign in')));
    queueMicrotask(() => email.focus());
    return form;
  }

  function resendLink(addr, purpose) {
    return h('button.link', {
      type: 'button',
      testid: 'resend-code',
      onclick: async () => {
        showError('');
        try {
          await actions.requestCode(addr, purpose);
          showInfo(`A new code was sent to ${addr}.`);
        } catch (e) {
          showError(e);
        }
      },
    }, 'Send a new code');
  }

  function registerFormGateway(addr) {
    const code = input('code-input', { inputmode: 'numeric', autocomplete: 'one-time-code', placeholder: '6 digits', maxlength: 6 });
    const f = accountFields();
    const form = h('form.auth-form', {
      onsubmit: (ev) => {
        ev.preventDefault();
        const c = code.value.trim();
        if (!/^\d{6}$/.test(c)) return showError('The code is the 6 digits from the e-mail.');
        const { error, account } = f.read();
        if (error) return showError(error);
        busy(f.submit, () => actions.register({ email: addr, code: c, ...account }));
      },
    },
    h('p.auth-lead', `We sent a code to ${addr}.`),
    field('Code', code),
    ...f.rows,
    f.submit,
    h('div.auth-links', resendLink(addr, 'register'), h('button.link', { type: 'button', testid: 'show-login', onclick: () => go('login') }, 'Back to sign in')));
    queueMicrotask(() => code.focus());
    return form;
  }

  function resetFormGateway(addr) {
    const code = input('code-input', { inputmode: 'numeric', autocomplete: 'one-time-code', placeholder: '6 digits', maxlength: 6 });
    const pass = input('reset-password', { type: 'password', autocomplete: 'new-password', placeholder: 'At least 8 characters' });
    const submit = h('button.btn.btn-primary.btn-block', { type: 'submit', testid: 'reset-submit' }, 'Set new password');
    const form = h('form.auth-form', {
      onsubmit: (ev) => {
        ev.preventDefault();
        const c = code.value.trim();
        const password = pass.value;
        if (!/^\d{6}$/.test(c)) return showError('The code is the 6 digits from the e-mail.');
        const err = checkPassword(password);
        if (err) return showError(err);
        busy(submit, async () => {
          await actions.reset({ email: addr, code: c, password });
          go('login');
          showInfo('Your password was changed. Sign in with the new one.');
        });
      },
    },
    h('p.auth-lead', `If ${addr} has an account, we sent it a code.`),
    field('Code', code),
    field('New password', pass),
    submit,
    h('div.auth-links', resendLink(addr, 'reset_password'), h('button.link', { type: 'button', testid: 'show-login', onclick: () => go('login') }, 'Back to sign in')));
    queueMicrotask(() => code.focus());
    return form;
  }

  const titles = {
    login: ['Welcome back', 'Sign in to continue chatting.'],
    register: ['Create your account', 'It takes less than a minute.'],
    reset: ['Reset your password', 'We will help you get back in.'],
  };
  const title = h('h1.auth-title', { testid: 'auth-title' });
  const subtitle = h('p.auth-subtitle');

  function draw(step) {
    const [t, st] = titles[screen];
    title.textContent = t;
    subtitle.textContent = st;
    let form;
    if (screen === 'login') form = loginForm();
    else if (screen === 'register' && mode !== 'gateway') form = registerFormNode();
    else if (screen === 'register') form = step ? registerFormGateway(step) : codeStep('register', (addr) => draw(addr));
    else form = step ? resetFormGateway(step) : codeStep('reset_password', (addr) => draw(addr));
    setChildren(body, form);
  }

  setChildren(root,
    h('div.auth-screen', { testid: 'auth-screen' },
      h('div.auth-card',
        h('div.brand', h('div.brand-mark', { 'aria-hidden': 'true' }, '✦'), h('span.brand-name', 'Startchat')),
        title, subtitle, infoBox, errorBox, body),
      h('p.auth-footer', mode === 'gateway' ? 'Secure sign-in with e-mail verification.' : 'Messages are delivered the moment they are stored.')));
  draw();
}
