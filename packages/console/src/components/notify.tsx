/** Short notices after an action ("Key revoked", or the API's error), read out by screen readers. */
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react';
import { errorMessage } from '../lib/api';

interface Notice {
  id: number;
  tone: 'ok' | 'bad';
  text: string;
}

interface NotifyValue {
  notify(tone: Notice['tone'], text: string): void;
  /** Runs an action; on success shows `done`, on failure the API's message. Returns its result. */
  run<T>(action: () => Promise<T>, done?: string): Promise<T | undefined>;
}

const NotifyContext = createContext<NotifyValue | null>(null);
let nextId = 1;

export function NotifyProvider({ children }: { children: ReactNode }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const notify = useCallback((tone: Notice['tone'], text: string) => {
    const id = nextId++;
    setNotices((list) => [...list.slice(-3), { id, tone, text }]);
    setTimeout(() => setNotices((list) => list.filter((n) => n.id !== id)), tone === 'bad' ? 10_000 : 4_000);
  }, []);
  const run = useCallback(
    async <T,>(action: () => Promise<T>, done?: string): Promise<T | undefined> => {
      try {
        const result = await action();
        if (done) notify('ok', done);
        return result;
      } catch (error) {
        notify('bad', errorMessage(error));
        return undefined;
      }
    },
    [notify],
  );
  const value = useMemo(() => ({ notify, run }), [notify, run]);
  return (
    <NotifyContext.Provider value={value}>
      {children}
      <div className="notices" aria-live="polite">
        {notices.map((n) => (
          <output key={n.id} className={`notice ${n.tone}`}>
            {n.text}
          </output>
        ))}
      </div>
    </NotifyContext.Provider>
  );
}

export function useNotify(): NotifyValue {
  const value = useContext(NotifyContext);
  if (!value) throw new Error('useNotify outside NotifyProvider');
  return value;
}
