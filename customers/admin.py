from django.contrib import admin

from .models import Organization


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("legal_name", "slug", "kind", "country")
    list_filter = ("kind", "country")
    search_fields = ("legal_name", "slug", "registration_number")
    prepopulated_fields = {"slug": ("legal_name",)}
