"""The console's screens, one module each; web.NAV lists those a signed-in person can open."""
