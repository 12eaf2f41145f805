// The non-template parts of the C++ API (include/asock/asock.hpp).
#include "asock/asock.hpp"

#include <string>

namespace asock {
namespace {

class Category final : public std::error_category
{
public:
    const char* name() const noexcept override { return "asock"; }

    std::string message(int value) const override
    {
        switch (static_cast<result>(value))
        {
        case result::ok:
            return "success";
        case result::error:
            return "the operation failed";
        case result::abandoned:
            return "the operation was abandoned: the socket was closed, or the peer closed or reset the connection";
        case result::invalid_argument:
            return "invalid argument: a buffer, or the buffers of one operation together, over UINT32_MAX bytes";
        case result::timed_out:
            return "the operation timed out";
        case result::cancelled:
            return "the operation was cancelled";
        case result::name_not_found:
            return "the name has no address";
        }
        return "unknown asock result";
    }

    // So that a result reads the same as the system's error for the same thing: a refusal as
    // std::errc::invalid_argument (the handler forms return that), a timeout as
    // std::errc::timed_out (a connect's timeout is the system's ETIMEDOUT), a cancel as
    // std::errc::operation_canceled (ECANCELED).
    std::error_condition default_error_condition(int value) const noexcept override
    {
        switch (static_cast<result>(value))
        {
        case result::invalid_argument:
            return std::errc::invalid_argument;
        case result::timed_out:
            return std::errc::timed_out;
        case result::cancelled:
            return std::errc::operation_canceled;
        default:
            return std::error_category::default_error_condition(value);
        }
    }
};

}  // namespace

const std::error_category& category() noexcept
{
    static const Category instance;
    return instance;
}

engine::engine(std::uint32_t threads)
{
    const EXECUTION_ENGINE_PARAMETERS parameters{threads == 0 ? 1 : threads, 0};
    handle_ = execution_engine_create(&parameters);
    if (handle_ == nullptr)
        throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "asock::engine: the engine could not start");
}

socket::socket(engine& e, SOCKET_HANDLE handle)
{
    handle_ = async_socket_create(e.native_handle(), handle);
    if (handle_ == nullptr)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument), "asock::socket: the socket could not be created");
}

timer::timer(engine& e)
{
    handle_ = async_timer_create(e.native_handle());
    if (handle_ == nullptr)
        throw std::system_error(std::make_error_code(std::errc::not_enough_memory), "asock::timer: the timer could not be made");
}

listener::listener(engine& e, const char* address, std::uint16_t port, std::int32_t backlog)
{
    std::error_code error;
    *this = listen(e, address, port, backlog, error);
    if (error)
        throw std::system_error(error, "asock::listener: cannot listen");
}

}  // namespace asock
