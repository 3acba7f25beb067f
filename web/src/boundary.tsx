import { Component, type ErrorInfo, type ReactNode } from 'react';

/** A page that throws shows what happened and a way back instead of a blank screen. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: Error | null; key: string }> {
  override state = { error: null as Error | null, key: this.props.resetKey };
  static getDerivedStateFromError(error: Error) { return { error }; }
  static getDerivedStateFromProps(props: { resetKey: string }, state: { error: Error | null; key: string }) {
    return props.resetKey !== state.key ? { error: null, key: props.resetKey } : null;
  }
  override componentDidCatch(error: Error, info: ErrorInfo) { console.error('console page failed', error, info.componentStack); }
  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <section className="page">
        <div className="error-box" role="alert">
          <strong>This page failed to display.</strong>
          <p>{this.state.error.message}</p>
          <p>Reload the page; if it happens again, the server's answer may not be what this console expects (check that the console and server versions match).</p>
          <button type="button" className="btn small" onClick={() => window.location.reload()}>Reload</button>
        </div>
      </section>
    );
  }
}
