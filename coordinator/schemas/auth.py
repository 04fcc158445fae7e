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
