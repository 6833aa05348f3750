"""Coupons: templates (满减, 折扣, 无门槛, 新人, 免配送费), claiming under quota, customer coupons and their states."""
