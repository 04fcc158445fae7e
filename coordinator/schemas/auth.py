"""What sign-in, token refresh and TOTP enrolment read and answer."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from coordinator.schemas.common import Email, Name, Strict

RefreshTokenText = Annotated[
    str,
    Field(
        min_length=20,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The refresh token from sign-in or the last refresh.",
    ),
]


class SignInRequest(Strict):
    email: Email
    password: str = Field(min_length=1, max_length=256)
    second_factor: str | None = Field(
        default=None,
        min_length=6,
        max_length=32,
        pattern=r"^[0-9A-Za-z -]+$",
        description="The 6-digit code from the authenticator app, or a recovery code. Required"
        " once TOTP is enrolled; the first attempt without it answers `second_factor_required`.",
    )


class SignedIn(BaseModel):
    """Tokens of a new or renewed sign-in."""

    outcome: Literal["signed_in"] = "signed_in"
    token_type: Literal["bearer"] = "bearer"
    access_token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    expires_in: int = Field(description="Seconds the access token stays valid.")
    refresh_token: str = Field(description="Single use: trade it at /auth/refresh for new tokens.")
    refresh_expires_in: int = Field(description="Seconds the refresh token stays valid.")


class TotpEnrolmentRequired(BaseModel):
    """An admin or manager without TOTP yet: only enrolment is allowed, with this token."""

    outcome: Literal["totp_enrolment_required"] = "totp_enrolment_required"
    enrolment_token: str = Field(
        description="Bearer token for /auth/totp/enrol and /auth/totp/confirm only."
    )
    expires_in: int = Field(description="Seconds the enrolment token stays valid.")
    message: str = "set up the authenticator app to finish signing in"


SignInAnswer = Annotated[SignedIn | TotpEnrolmentRequired, Field(discriminator="outcome")]


class RefreshRequest(Strict):
    refresh_token: RefreshTokenText


NewPassword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        description="At least 12 characters and not easy to guess (common passwords, repeats,"
        " keyboard runs and your own name are refused).",
    ),
]


class SetPasswordRequest(Strict):
    """The token from an invite or reset link, and the password the person chooses."""

    token: str = Field(
        min_length=20,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The part after `#token=` in the link.",
    )
    password: NewPassword


class PasswordSet(BaseModel):
    """Password set; this person has a second factor, so they now sign in with it."""

    outcome: Literal["password_set"] = "password_set"
    message: str = "password set: sign in with it and the code from your authenticator app"


SetPasswordAnswer = Annotated[
    SignedIn | TotpEnrolmentRequired | PasswordSet, Field(discriminator="outcome")
]


class PasswordChangeRequest(Strict):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: NewPassword


class LinkSentAnswer(BaseModel):
    """An invite or reset link was made and, with SMTP configured, mailed."""

    mailed: bool = Field(description="True when the link went to the outbox for the SMTP server.")
    link: str | None = Field(
        description="Only without SMTP: the one-time link, for the admin to pass on in person."
    )
    expires_in: int = Field(description="Seconds the link stays valid.")


class TotpEnrolmentStarted(BaseModel):
    """The new secret; the console draws `otpauth_uri` as a QR code."""

    secret: str = Field(description="Base32, for typing into the app when a QR cannot be scanned.")
    otpauth_uri: str


class TotpConfirmRequest(Strict):
    code: str = Field(pattern=r"^\d{6}$", description="The current 6-digit code from the app.")


class TotpConfirmed(BaseModel):
    """Second factor on. The recovery codes are shown this once: store them offline."""

    recovery_codes: list[str]
    tokens: SignedIn | None = Field(
        description="New tokens when enrolment finished a sign-in (enrolment token used)."
    )


class AdminCreate(Strict):
    """An admin made by `coordinator create-admin`."""

    email: Email
    full_name: Name
