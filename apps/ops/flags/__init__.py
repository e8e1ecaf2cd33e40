"""Feature flags (gray release): who gets a feature before everyone does.

The model is `apps.ops.models.FeatureFlag` (django-waffle's, per user); `selectors` read it,
`services` change it (audited), `api` serves a user's flags, and `apps.core.features` is what
the other apps call to gate a feature (this app registers the evaluator there).
"""
