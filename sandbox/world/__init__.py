"""The simulated world: contacts, email, ads, CRM, incidents."""
