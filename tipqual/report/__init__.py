"""The findings report: context, rendering, figures, Word output and templates."""
