"""Sign-in plumbing (cross-cutting): sign-in events are wired to the audit trail here."""
