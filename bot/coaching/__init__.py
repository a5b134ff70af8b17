"""The coach's side: what a coach can type, running it on their own clients, and what they are told unasked."""
