"""Who may see what: the sharing policy, consent, public-interest decisions, the shared view and chronology
published per recipient, and the tamper-evident audit of every disclosure and non-disclosure."""
