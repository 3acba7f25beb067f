/** The store's typed errors for Public API writes (the server turns them into 404 and 409 answers). */
export class ControlPlaneNotFoundError extends Error {
  override name = 'ControlPlaneNotFoundError';
}
/** A Public API write to an entity the workspace file defines: change it in the file. */
export class ControlPlaneFileOwnedError extends Error {
  override name = 'ControlPlaneFileOwnedError';
}
