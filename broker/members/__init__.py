"""School membership pages: waiting, members, invitations and the verification queue."""
