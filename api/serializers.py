"""Representations only: what a deal and its stages look like in the API. No business rule
lives here (CONVENTIONS.md): scoping is the querysets' (``restrict``), writes are services'."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from transfers.models import HandoverStage, TransferDeal


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = HandoverStage
        fields = ("id", "order", "name", "kind", "status", "done", "total", "delivered_at")
        read_only_fields = fields


class DealSerializer(serializers.ModelSerializer):
    seller = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    buyer = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    side = serializers.SerializerMethodField(
        help_text="The side of the deal the key's organisation is on: seller or buyer."
    )
    stages = StageSerializer(source="visible_stages", many=True, read_only=True)

    class Meta:
        model = TransferDeal
        fields = (
            "id", "reference", "title", "status", "seller", "buyer", "side",
            "target_closing_date", "created_at", "stages",
        )  # fmt: skip
        read_only_fields = fields

    def get_side(self, deal: TransferDeal) -> str:
        principal: Any = self.context["request"].user
        return "seller" if deal.seller_id == principal.organization_id else "buyer"
