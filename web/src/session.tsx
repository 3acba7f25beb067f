import { createContext, useContext } from 'react';
import type { User } from './types';

export interface SessionValue {
  user: User | null;
  /** True when the server has no /auth endpoints or no user yet and answers everyone (first run, open API). */
  open: boolean;
  refresh: () => void;
  signOut: () => Promise<void>;
}

export const SessionContext = createContext<SessionValue>({ user: null, open: false, refresh: () => {}, signOut: async () => {} });
export const useSession = () => useContext(SessionContext);

/** Roles that may save (the API checks every write; the console only avoids offering what would be refused). */
export function canWrite(user: User | null, open: boolean): boolean {
  if (open) return true;
  if (!user) return false;
  const roles = [user.role, ...(user.permissions ?? []).map((p) => p.roleId)].filter(Boolean).map((r) => String(r).toLowerCase());
  if (roles.length === 0) return true;
  return roles.some((r) => !r.includes('read-only') && !r.includes('read only'));
}

/** May create sources: an owner, or a Source Admin of the whole workspace (not of some sources, by id or by label). */
export function canAddSource(user: User | null, open: boolean): boolean {
  if (open) return true;
  if (!user?.permissions) return canWrite(user, open);
  return user.permissions.some((p) => p.roleId === 'workspace-owner' ||
    (p.roleId === 'source-admin' && p.resources.some((r) => r.type === 'WORKSPACE' && !(r.labels && r.labels.length > 0))));
}
