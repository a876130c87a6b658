"""The web UI (`kubeline ui`) and the pipeline drawings it shares with `kubeline graph`.

Pure builders turn resources into what pages show: ``graph`` (a pipeline and a run's steps -> nodes, groups and
edges), ``rows`` (the run list's columns, filters, sorting and paging), previews, visualizations, the timeline,
comparisons and run forms. ``layout`` draws a graph with Graphviz ``dot``. ``sources`` (the cluster's watches in
``cluster``, the local runner's folder in ``local``) feed ``app``, the aiohttp application, and its views; the
browser loads only templates and static files shipped in this package.
"""
