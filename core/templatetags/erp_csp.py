"""Template tags for the Content-Security-Policy (core/security.py) and the admin theme's data.

`{% csp_allow_eval %}`: the template that loads Vue asks for 'unsafe-eval' on its page.
`{{ value|theme_data }}`: what simpleui's tags print as JSON (`custom_button`) or as an inline
`<script>var menus=…</script>` without a nonce (which the policy refuses), parsed, for
`json_script` or for `js_json` inside a script of ours.
`{{ value|js_json }}`: a value as a JavaScript literal that is safe inside `<script>`: `<`, `>`
and `&` escaped as json_script does (simpleui's JSON was not, so a `</script>` in it ended the
script).
"""

import json

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.safestring import mark_safe

register = template.Library()

# As django.utils.html.json_script escapes: no "</script>" or "<!--" can form inside the script.
SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.simple_tag(takes_context=True)
def csp_allow_eval(context):
    request = context.get("request")
    if request is not None:
        request.csp_allow_eval = True
    return ""


@register.filter
def theme_data(value):
    """simpleui's JSON, parsed: a tag's plain JSON, or the JSON after the `=` in its
    `<script …>var name=JSON</script>`."""
    text = str(value).strip()
    if text.startswith("<script"):
        start = text.index("=", text.index("var ")) + 1
        text = text[start : text.rindex("</script>")]
    return json.loads(text)


@register.filter
def js_json(value):
    return mark_safe(json.dumps(value, cls=DjangoJSONEncoder).translate(SCRIPT_ESCAPES))
