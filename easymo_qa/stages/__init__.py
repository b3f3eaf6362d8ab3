"""`easymo-qa signoff`'s stages, each in a child process, and the main session that signs off; it imports
the sign-off package, which never imports this one."""
