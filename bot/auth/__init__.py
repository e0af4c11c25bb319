"""Staff sign-in and scope.

- `viewer`: who is asking (the admin token, or a person with their scope) and what they may
  see and act on; every `/api/v1` route asks `viewer_of(request)`.
- `sessions`: signed session cookies with an expiry and a CSRF token.
- `middleware`: the API's authentication (bearer token or session) and CSRF check.
- `wecom_login`: WeCom's OAuth2 web login from a task card's 详情 (`/t/{id}`).
- `passwords`: passwords and one-time links for people without WeCom.
- `routes`: the login page, sign-in and sign-out, `/api/v1/me`, and the admin routes that set
  a password or make a link.
"""
