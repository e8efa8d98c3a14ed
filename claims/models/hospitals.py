from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from enrollment.models import Region

from .choices import HospitalLevel


class Hospital(models.Model):
    """A designated medical institution (定点医疗机构)."""

    region_scope = "region"
    region_scope_reads_ancestors = True
    hospital_scope = ""  # a hospital user sees their own hospital's record

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=128)
    level = models.CharField(_("level"), max_length=16, choices=HospitalLevel.choices)
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="hospitals")
    in_region = models.BooleanField(_("inside the pooling region"), default=True)
    in_county = models.BooleanField(
        _("inside the county"), default=True,
        help_text=_("County-internal hospitals admit eligible patients without a deposit (先诊疗后付费)."))
    networked = models.BooleanField(_("networked for direct settlement"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("hospital")
        verbose_name_plural = _("hospitals")
        ordering = ["code"]

    def __str__(self):
        return self.name


class HospitalStaff(models.Model):
    """A hospital user who may look up patients' eligibility (资格确认)."""

    region_scope = "hospital__region"
    hospital_scope = "hospital"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="hospital_staff")
    hospital = models.ForeignKey(Hospital, verbose_name=_("hospital"), on_delete=models.CASCADE, related_name="staff")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("hospital user")
        verbose_name_plural = _("hospital users")

    def __str__(self):
        return f"{self.user} @ {self.hospital}"
