import { Component, type ReactNode } from 'react';

/** Never a blank page: a render error shows a readable message and a way back. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <main className="auth">
        <div className="auth-card" role="alert">
          <h1>Something went wrong</h1>
          <p className="muted">The page hit an unexpected problem: {this.state.error.message}</p>
          <button type="button" className="btn btn-primary" onClick={() => location.reload()}>
            Reload
          </button>
        </div>
      </main>
    );
  }
}
