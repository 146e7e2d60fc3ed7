"""Content-Security-Policy on every response: the browser runs only the scripts we serve.

Every page (admin, API docs, error pages, static files) gets a policy whose script-src is our own
origin plus a fresh per-request nonce. Inline scripts our templates need carry
`nonce="{{ request.csp_nonce }}"`; a `<script>` or `onerror=` that someone smuggles into a page
through a search box or JD's text has no nonce and does not run, even if a template forgets to
escape it. What else the policy says, and why:

- `object-src 'none'`, `base-uri 'self'`, `form-action 'self'`: no plugins, no `<base>` that
  re-points our relative script URLs, no form that posts a slip's data to another site.
- `frame-ancestors 'self'` (not 'none'): the admin theme opens every page in a tab, an iframe of
  this same site (erp_aftersales/theme.py); other sites still cannot frame us.
- `style-src 'unsafe-inline'`: the theme (Element UI, Vue's `:style`) and our templates style
  elements inline. Styles cannot run code; scripts stay strict.
- `img-src data:`, `font-src data:`: the theme's and Swagger UI's icons are data: URIs in their CSS.
- `'unsafe-eval'` only on the theme's pages: simpleui draws its chrome with Vue 2, whose template
  compiler turns the in-page templates into functions with `new Function()`. The template that loads
  Vue (`templates/admin/includes/js-part.html`) asks for it with `{% csp_allow_eval %}`; every other
  page (API docs, the plain 500 page) gets no eval. On the theme's pages, no user or JD text may sit
  inside an element Vue mounts (it would be compiled as a template): our overrides of the theme's
  templates keep to that (docs/admin.md, 安全).

A response that already carries a policy keeps it.
"""

import secrets

HEADER = "Content-Security-Policy"


def policy(nonce: str, allow_eval: bool = False) -> str:
    script_src = ["'self'", f"'nonce-{nonce}'"] + (["'unsafe-eval'"] if allow_eval else [])
    directives = {
        "default-src": ["'self'"],
        "script-src": script_src,
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class ContentSecurityPolicyMiddleware:
    """Gives each request its nonce (`request.csp_nonce`) and each response the policy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(18)
        request.csp_allow_eval = False
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy(request.csp_nonce, request.csp_allow_eval)
        return response
