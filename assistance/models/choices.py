from django.db import models
from django.utils.translation import gettext_lazy as _


class LookBack(models.TextChoices):
    MONTHS = "months", _("The months before the application date")
    CALENDAR_YEAR = "calendar_year", _("The calendar year of the application date")


class CostBasis(models.TextChoices):
    """Which part of a settled claim is the household's burden in the 60 % test."""

    AFTER_INSURANCE = "after_insurance", _("Borne after basic, critical illness and other insurance")
    AFTER_ASSISTANCE = "after_assistance", _("Borne after insurance and medical assistance")


class AssetKind(models.TextChoices):
    HOUSING = "housing", _("Housing other than the only home")
    VEHICLE = "vehicle", _("Motor vehicles")
    DEPOSITS = "deposits", _("Bank deposits and cash")
    SECURITIES = "securities", _("Securities and insurance with cash value")
    BUSINESS = "business", _("Business assets")
    OTHER = "other", _("Other assets")


#: The short words a clerk types for each kind on the registration form (the codes are accepted too).
ASSET_KIND_WORDS = {"房产": AssetKind.HOUSING, "住房": AssetKind.HOUSING, "车辆": AssetKind.VEHICLE,
                    "存款": AssetKind.DEPOSITS, "证券": AssetKind.SECURITIES, "经营性资产": AssetKind.BUSINESS,
                    "经营": AssetKind.BUSINESS, "其他": AssetKind.OTHER}


class AidFunding(models.TextChoices):
    """Funding of case-by-case special aid (一事一议, seed 001 §三(三))."""

    SOCIAL_ASSISTANCE = "social_assistance", _("Social assistance (社会救助)")
    DONATION = "donation", _("Social donation (社会捐赠)")
    MUTUAL_AID = "mutual_aid", _("Medical mutual aid (医疗互助)")
    OTHER = "other", _("Other")


class ApplicationState(models.TextChoices):
    RECEIVED = "received", _("Received (受理)")
    REVIEWED = "reviewed", _("Initially reviewed (初审)")
    APPROVED = "approved", _("Approved, awaiting payment (审批)")
    PAID = "paid", _("Paid (已支付)")
    RETURNED = "returned", _("Returned for documents (退回补充材料)")
    REFUSED = "refused", _("Refused (不予救助)")


OPEN_APPLICATION_STATES = (
    ApplicationState.RECEIVED, ApplicationState.REVIEWED, ApplicationState.APPROVED, ApplicationState.RETURNED)


class CaseState(models.TextChoices):
    OPENED = "opened", _("Opened (立案)")
    DECIDED = "decided", _("Decided, awaiting approval (议定)")
    APPROVED = "approved", _("Approved by both departments (审批)")
    PAID = "paid", _("Paid (已支付)")
    CLOSED = "closed", _("Followed up and closed (结案)")
    REJECTED = "rejected", _("Not granted (不予救助)")


OPEN_CASE_STATES = (CaseState.OPENED, CaseState.DECIDED, CaseState.APPROVED)
#: States in which a case's aid has been paid and counts in the household burden.
PAID_CASE_STATES = (CaseState.PAID, CaseState.CLOSED)
