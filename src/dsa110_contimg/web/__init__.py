"""The operators' web pages: overview, products, sources, candidates and jobs.

Server-side pages (Jinja2 templates, autoescaped) with Bokeh plots, served by the same
application as the JSON API (`install_web`), at ``/`` beside ``/api``. Every asset — the
pages' stylesheet and script and BokehJS, which ships inside the bokeh package — is served by
the application itself under ``/static``: nothing is loaded from another host.
"""

from dsa110_contimg.web.mount import install_web

__all__ = ["install_web"]
