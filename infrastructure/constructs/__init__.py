"""One construct per capability; each takes keyword-only parameters and exposes what it created."""
