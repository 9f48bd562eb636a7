/** Sign in. Lockouts and wrong passwords are said plainly; the session is an HttpOnly cookie. */
import { type FormEvent, useState } from 'react';
import { Field } from '../components/field';
import { errorMessage, isPortcullisError } from '../lib/api';
import { useSession } from '../lib/session';

export function LoginPage() {
  const { login, notice, status, recheck } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPending(true);
    setError(null);
    try {
      await login(String(form.get('username') ?? ''), String(form.get('password') ?? ''));
    } catch (err) {
      if (isPortcullisError(err) && err.code === 'login_locked') {
        setError(`Sign-in is locked after too many failed attempts. ${err.detail ?? ''}`.trim());
      } else if (isPortcullisError(err) && err.code === 'invalid_credentials') {
        setError('Wrong username or password.');
      } else {
        setError(errorMessage(err));
      }
    } finally {
      setPending(false);
    }
  };

  return (
    <main className="login" id="main">
      <article>
        <header>
          <h1>
            <span aria-hidden="true">▦</span> Portcullis
          </h1>
          <p className="muted">Sign in to the console</p>
        </header>
        {notice ? (
          <p className="notice-inline" role="status">
            {notice}
          </p>
        ) : null}
        {status === 'unreachable' ? (
          <button type="button" className="secondary" onClick={recheck}>
            Retry
          </button>
        ) : null}
        <form onSubmit={submit}>
          <Field label="Username" name="username" autoComplete="username" required autoFocus />
          <Field label="Password" name="password" type="password" autoComplete="current-password" required />
          {error ? (
            <p className="form-error" role="alert">
              {error}
            </p>
          ) : null}
          <button type="submit" aria-busy={pending} disabled={pending}>
            Sign in
          </button>
        </form>
      </article>
    </main>
  );
}
