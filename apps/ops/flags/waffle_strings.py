"""django-waffle's own field labels and help texts, shown in the flag admin.

waffle ships no Chinese catalog; listing its strings here keeps them in ours
(`make messages` extracts them, and gettext finds them in any catalog at run time).
"""

from django.utils.translation import gettext_noop

WAFFLE_STRINGS = (
    gettext_noop("The human/computer readable name."),
    gettext_noop(
        "Flip this flag on (Yes) or off (No) for everyone, overriding all other "
        "settings. Leave as Unknown to use normally."
    ),
    gettext_noop("Note"),
    gettext_noop("Note where this Flag is used."),
    gettext_noop("Groups"),
    gettext_noop("Activate this flag for these user groups."),
    gettext_noop("Users"),
    gettext_noop("Activate this flag for these users."),
    gettext_noop("Modified"),
)
